"""The code folder a deployment runs (locally, or uploaded by Azure ML): the factory's scoring
script for its kind staged as score.py, the modules every score.py imports as siblings, and
whatever the model keeps in its own serving/<kind>/ folder. A model that provides its own
serving/<kind>/score.py gets that one instead of the factory's.

The factory owns what every model shares, so no model folder holds a copy of these files."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

SCRIPT_NAME = "score.py"
KINDS = ("online", "batch")
_HERE = Path(__file__).parent
SCRIPTS = {"online": _HERE / "scripts" / "online_score.py",
           "batch": _HERE / "scripts" / "batch_score.py"}
# imported by the scripts as siblings: by both, and by one kind only
SHARED = (_HERE / "signature_input.py", _HERE / "scripts" / "served_model.py")
OWN = {"online": (_HERE / "collector.py",), "batch": ()}


def _files(model_serving: Path, kind: str) -> list[tuple[str, Path]]:
    """(name in the staged folder, source) of every file, sorted by name. ``model_serving`` is
    the model's serving/<kind> folder; it need not exist."""
    if kind not in KINDS:
        raise ValueError(f"deployment kind {kind!r}: expected one of {', '.join(KINDS)}")
    files = {SCRIPT_NAME: SCRIPTS[kind],
             **{shared.name: shared for shared in (*SHARED, *OWN[kind])}}
    if model_serving.is_dir():
        files.update({p.relative_to(model_serving).as_posix(): p
                      for p in model_serving.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts})
    return sorted(files.items())


def own_script(model_serving: Path) -> bool:
    """True when the model brings its own score.py for this kind."""
    return (model_serving / SCRIPT_NAME).is_file()


def fingerprint(model_serving: Path, kind: str) -> str:
    """Hash of what stage() would write: a change to a factory file counts too."""
    digest = hashlib.sha256()
    for name, source in _files(model_serving, kind):
        digest.update(name.encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def stage(model_serving: Path, kind: str, dest: Path) -> Path:
    """Write the deployment's code folder to ``dest`` (replaced if present)."""
    files = _files(model_serving, kind)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name, source in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest
