"""Where things live in a factory checkout. Every generated or stateful path is here."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The factory checkout: FACTORY_ROOT if set (tests use it), else this source tree."""
    override = os.environ.get("FACTORY_ROOT")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[1]


def state_dir(root: Path | None = None) -> Path:
    """Ignored folder for synthesised Terraform, state and the local workspace."""
    return (root or repo_root()) / ".factory"


def reports_dir(root: Path | None = None) -> Path:
    """Ignored folder for build summaries (JSON + markdown for PR comments)."""
    return (root or repo_root()) / "reports"


def resolve(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """A config path: absolute as given, else relative to the repo root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or repo_root()) / p
