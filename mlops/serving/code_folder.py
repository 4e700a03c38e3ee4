"""The code folder a deployment runs: the model's serving/<kind> files plus the request
validator every score.py imports as a sibling (mlops/serving/signature_input.py).

Azure ML uploads one folder per deployment and the local endpoints snapshot one, so the shared
module is added when the folder is staged, not kept as a copy in every model folder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

SHARED = (Path(__file__).with_name("signature_input.py"),)
_IGNORE = shutil.ignore_patterns("__pycache__")


def _files(code_dir: Path) -> list[tuple[str, Path]]:
    """(name in the staged folder, source) of every file, sorted by name."""
    own = {p.relative_to(code_dir).as_posix(): p for p in code_dir.rglob("*")
           if p.is_file() and "__pycache__" not in p.parts}
    return sorted({**own, **{shared.name: shared for shared in SHARED}}.items())


def fingerprint(code_dir: Path) -> str:
    """Hash of what stage() would write: a change to the shared module counts too."""
    digest = hashlib.sha256()
    for name, source in _files(code_dir):
        digest.update(name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def stage(code_dir: Path, dest: Path) -> Path:
    """Write the deployment's code folder to ``dest`` (replaced if present)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(code_dir, dest, ignore=_IGNORE)
    for shared in SHARED:
        shutil.copy2(shared, dest / shared.name)
    return dest
