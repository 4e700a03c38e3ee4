"""Process helpers of the serving stack, on real processes and files: log rotation under a
writer that keeps its descriptor, finding the processes that run from a folder, children."""

from __future__ import annotations

import os
import subprocess
import sys

from mlops.serving import processes


def test_rotation_copies_aside_truncates_and_the_writer_carries_on(tmp_path):
    log = tmp_path / "front.log"
    writer = open(log, "ab")  # noqa: SIM115 - held open across the rotation, like a server
    try:
        writer.write(b"a" * 100 + b"\n")
        writer.flush()
        assert not processes.rotate_log(log, 200, 2)
        writer.write(b"b" * 150 + b"\n")
        writer.flush()
        assert processes.rotate_log(log, 200, 2)
        assert log.stat().st_size == 0 and (tmp_path / "front.log.1").stat().st_size == 252
        writer.write(b"after\n")
        writer.flush()
        assert log.read_bytes() == b"after\n"  # appended at the new end, no hole
        writer.write(b"c" * 300 + b"\n")
        writer.flush()
        assert processes.rotate_log(log, 200, 2)
        assert (tmp_path / "front.log.2").stat().st_size == 252
        assert (tmp_path / "front.log.1").read_bytes().startswith(b"after\n")
    finally:
        writer.close()


def test_processes_using_a_folder_are_found_and_only_those(tmp_path):
    folder = tmp_path / "deployments" / "blue-1"
    folder.mkdir(parents=True)
    script = "import sys, time; time.sleep(60)"
    inside = subprocess.Popen([sys.executable, "-c", script, str(folder / "code" / "score.py")])
    beside = subprocess.Popen([sys.executable, "-c", script, f"{folder}-other/x"])
    try:
        found = {pid for pid, _ in processes.processes_using(folder)}
        assert inside.pid in found and beside.pid not in found
        assert inside.pid in processes.children(os.getpid())
    finally:
        for proc in (inside, beside):
            proc.kill()
            proc.wait()
