"""A copy of the repository as a fresh clone would hold it (for the end-to-end test and the
fresh-checkout benchmark): tracked files plus new, non-ignored ones; no .factory, .nox, data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def fresh_copy(source: Path, dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=source,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        path = source / name
        if path.is_file():  # a deleted but still tracked file is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / name)
    return dest
