"""What every registered model version carries: the champion marker and the digest of its files.

The register step writes these (registry.py, step_register.py) and the factory reads them back
(promotion and lineage import this module as ``mlops.steps.factory_steps.versions``), so both
sides share one definition. Standard library only: it is staged into step code folders too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHAMPION_ALIAS = "champion"  # MLflow registry alias (models:/<name>@champion), where aliases exist
CHAMPION_TAG = "factory.champion"  # "true" on the champion version, on every platform
DIGEST_TAG = "factory.model_digest"  # model_digest() of the version's files at registration


def model_digest(folder) -> str:
    """sha256 over the model folder's files (relative path + content, in path order)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()
