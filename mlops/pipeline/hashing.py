"""Content hashes that decide reuse: a file tree (relative names + bytes), JSON values."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_CHUNK = 1 << 20


def tree_files(root: Path) -> list[Path]:
    """Files under ``root`` in a stable order (a file: itself), caches and bytecode excluded."""
    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        found.extend(Path(folder) / f for f in sorted(files) if not f.endswith(_SKIP_SUFFIXES))
    return found


def hash_tree(root: Path) -> str:
    """sha256 over (relative path, size, bytes) of every file; same content, same hash."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(root)
    digest = hashlib.sha256()
    base = root.parent if root.is_file() else root
    for file in tree_files(root):
        rel = file.relative_to(base).as_posix()
        digest.update(f"{rel}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def hash_value(value: Any) -> str:
    """sha256 of a JSON-serialisable value (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
