"""What `nox -s cleanup` keeps, on every platform: the one rule both cleanup modules apply."""

from __future__ import annotations

from typing import Any

from mlops.config import ModelEnvConfig
from mlops.registry_names import CHAMPION_TAG, PRODUCTION, STAGE_TAG


def why_kept(version: Any, champion: str | None, newest: set[str]) -> str | None:
    """Why a registered version must stay (None: it may go). ``version`` has .version, .tags."""
    tags = version.tags or {}
    if str(version.version) == champion or str(tags.get(CHAMPION_TAG, "")).lower() == "true":
        return "champion"
    if tags.get(STAGE_TAG) == PRODUCTION:
        return "approved for production"
    if str(version.version) in newest:
        return "among the newest"
    return None


def name_prefix(entry: ModelEnvConfig, base: str) -> str:
    """The prefix of every branch's experiment or registered model of an entry
    (mlops.naming: <model>_<BASE>_<env>_<branch>)."""
    return f"{entry.model}_{base}_{entry.env}_"


def sweep(name: str, versions: list[Any], champion: str | None, keep: int, remove,
          dry_run: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Apply the rule to one registered model's versions (newest first): ``remove(version)``
    for each that may go, unless dry_run. Returns (removed, kept with the reason)."""
    newest = {str(v.version) for v in versions[:keep]}
    removed, kept = [], []
    for version in versions:
        why = why_kept(version, champion, newest)
        if why:
            kept.append((name, str(version.version), why))
            continue
        removed.append((name, str(version.version)))
        if not dry_run:
            remove(version)
    return removed, kept
