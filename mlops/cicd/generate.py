"""Render every CI file from config, compare with the tree, write what changed.

All files are rendered before anything is written (a config error leaves the tree untouched);
each file is replaced atomically (temp file + os.replace). A generated file (one that starts with
the header) whose pipeline is no longer defined, e.g. a removed model's, is deleted; hand-written
files in the same folders are left alone.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlops.cicd import azure_devops, github
from mlops.cicd._render import dump, is_generated
from mlops.cicd.definitions import (
    AZURE,
    AZURE_DIR,
    AZURE_SETUP_TEMPLATE,
    GITHUB,
    GITHUB_DIR,
    GITHUB_SETUP_ACTION,
    pipeline_definitions,
)
from mlops.config import FactoryConfig

# Every folder a generated file lives in (pipelines, the step template, the composite action).
GENERATED_DIRS = (AZURE_DIR, GITHUB_DIR, str(Path(AZURE_SETUP_TEMPLATE).parent),
                  str(Path(GITHUB_SETUP_ACTION).parent))


@dataclass
class Drift:
    """Paths relative to the root: how the tree differs from what config generates."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.stale)

    def lines(self) -> list[str]:
        return ([f"missing  {p}" for p in self.missing] + [f"changed  {p}" for p in self.changed]
                + [f"stale    {p}" for p in self.stale])


def render_all(config: FactoryConfig) -> dict[str, str]:
    """Relative path -> file text: every defined pipeline on both CI systems, and the set-up
    each system's jobs share."""
    files: dict[str, str] = {
        AZURE_SETUP_TEMPLATE: dump(azure_devops.setup_template(),
                                   azure_devops.COMMENTS["setup"]),
        GITHUB_SETUP_ACTION: dump(github.setup_action(), github.SETUP_COMMENTS),
    }
    for definition in pipeline_definitions(config):
        if AZURE in definition.systems:
            files[definition.azure_path] = dump(azure_devops.render(definition, config),
                                                azure_devops.comments(definition))
        if GITHUB in definition.systems:
            files[definition.github_path] = dump(github.render(definition, config),
                                                 github.comments(definition))
    return files


def _generated_on_disk(root: Path) -> list[str]:
    found = []
    for folder in GENERATED_DIRS:
        for path in sorted((root / folder).glob("*.y*ml")):
            try:
                if is_generated(path.read_text(encoding="utf-8")):
                    found.append(path.relative_to(root).as_posix())
            except (OSError, UnicodeDecodeError):
                continue  # not ours to judge
    return found


def diff(config: FactoryConfig, root: Path, files: dict[str, str] | None = None) -> Drift:
    files = render_all(config) if files is None else files
    drift = Drift()
    for relative, text in files.items():
        path = root / relative
        if not path.exists():
            drift.missing.append(relative)
        elif path.read_text(encoding="utf-8") != text:
            drift.changed.append(relative)
    drift.stale = [p for p in _generated_on_disk(root) if p not in files]
    return drift


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write(config: FactoryConfig, root: Path) -> Drift:
    """Bring the tree in line with config; returns what was out of line (now fixed)."""
    files = render_all(config)
    drift = diff(config, root, files)
    for relative in (*drift.missing, *drift.changed):
        _write_atomic(root / relative, files[relative])
    for relative in drift.stale:
        (root / relative).unlink(missing_ok=True)
    return drift
