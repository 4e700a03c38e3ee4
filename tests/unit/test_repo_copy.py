"""fresh_copy: what a clone of the repository (plus new, non-ignored files) would hold."""

from __future__ import annotations

import subprocess

from mlops._repo_copy import fresh_copy


def test_copies_tracked_and_new_files_but_not_ignored_ones(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / ".gitignore").write_text(".factory/\n*.log\n")
    (repo / "pkg" / "tracked.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    (repo / "pkg" / "new.py").write_text("y = 2\n")  # not committed yet, not ignored
    (repo / ".factory").mkdir()
    (repo / ".factory" / "state.json").write_text("{}")
    (repo / "build.log").write_text("noise")

    copy = fresh_copy(repo, tmp_path / "copy")

    copied = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    assert copied == [".gitignore", "pkg/new.py", "pkg/tracked.py"]
    assert (copy / "pkg" / "tracked.py").read_text() == "x = 1\n"
