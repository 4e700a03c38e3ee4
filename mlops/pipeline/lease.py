"""A running pipeline's lease, so that the next build can clean up after a runner that died.

Steps run in their own sessions, so a runner killed with SIGKILL leaves them running, its
``.partial-*`` folders behind and its MLflow runs RUNNING. While it runs, the runner holds an
exclusive lock on <runs>/leases/<run>.lock (the kernel drops it when the process dies, however
it dies) and keeps <run>.json listing its step processes (pid + start time, so a reused pid is
never mistaken for a step), their partial folders and runs. A later runner that can take the
lock of a lease whose JSON still exists knows its owner is gone: it stops the step processes
still alive, removes the partial folders and marks the runs KILLED.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from mlops.pipeline.tracking import close_runs
from mlops.procinfo import start_time

SCHEMA_VERSION = 1
FOLDER = "leases"
STOP_GRACE_SECONDS = 5.0


def partial_marker(lease_id: str) -> str:
    """The part of a partial folder's name that ties it to the lease of its pipeline run."""
    return f".partial-{lease_id[:12]}-"


@dataclass
class Recovered:
    lease_id: str
    run_id: str
    owner_pid: int
    stopped: list[str] = field(default_factory=list)  # "<job> (pid N)"
    removed: list[Path] = field(default_factory=list)


class Lease:
    """Held by a running pipeline (see the module docstring)."""

    def __init__(self, runs_root: Path, tracking_uri: str):
        self.folder = runs_root / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.id = uuid.uuid4().hex
        self.run_id, self.tracking_uri = "", tracking_uri
        self.lock_path = self.folder / f"{self.id}.lock"
        self.path = self.folder / f"{self.id}.json"
        # locked before it appears under its name, so no one ever sees it unlocked while we live
        tmp = self.folder / f".{self.id}.lock-tmp"
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        tmp.replace(self.lock_path)
        self.steps: dict[str, dict] = {}
        self.helpers: dict[str, dict] = {}
        self._write()

    def _write(self) -> None:
        data = {"schema_version": SCHEMA_VERSION, "id": self.id, "run_id": self.run_id,
                "tracking_uri": self.tracking_uri, "pid": os.getpid(),
                "start_time": start_time(os.getpid()), "steps": self.steps,
                "helpers": self.helpers}
        tmp = self.folder / f".{self.id}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)

    def set_run(self, run_id: str) -> None:
        """The pipeline's (parent) MLflow run, marked KILLED if this runner dies."""
        self.run_id = run_id
        self._write()

    def add_step(self, job: str, run_id: str, partial: Path) -> None:
        """A step about to start (its pid follows with started())."""
        self.steps[job] = {"pid": 0, "start_time": None, "run_id": run_id,
                           "partial": str(partial)}
        self._write()

    def started(self, job: str, pid: int) -> None:
        self.steps[job].update(pid=pid, start_time=start_time(pid))
        self._write()

    def add_helper(self, name: str, pid: int, log: Path | None = None) -> None:
        """A process the runner started for its steps (the fork server) and its log."""
        if self.helpers.get(name, {}).get("pid") != pid:
            self.helpers[name] = {"pid": pid, "start_time": start_time(pid),
                                  "log": str(log) if log else None}
            self._write()

    def remove_step(self, job: str) -> None:
        if self.steps.pop(job, None) is not None:
            self._write()

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        os.close(self._fd)


def _stop_group(pid: int, started: int | None) -> bool:
    """SIGTERM then SIGKILL the process group of ``pid`` if it is still that process."""
    if pid <= 0 or started is None or start_time(pid) != started:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and start_time(pid) == started:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def recover(runs_root: Path, steps_root: Path, log) -> list[Recovered]:
    """Clean up after every runner of this workspace that died holding a lease."""
    folder = runs_root / FOLDER
    found: list[Recovered] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        lock = path.with_suffix(".lock")
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue  # released meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its runner is alive
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # released meanwhile (or half-written by a dying runner: next time)
            found.append(_recover_one(data, steps_root, log))
            path.unlink(missing_ok=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    for lock in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        _remove_if_abandoned(lock)  # a runner that died before writing its lease's JSON
    return found


def _remove_if_abandoned(lock: Path) -> None:
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not lock.with_suffix(".json").exists():
            lock.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def _recover_one(data: dict, steps_root: Path, log) -> Recovered:
    lease_id, run_id = str(data.get("id", "")), str(data.get("run_id", ""))
    done = Recovered(lease_id, run_id, int(data.get("pid", 0)))
    for helper in (data.get("helpers") or {}).values():
        _stop_group(int(helper["pid"]), helper.get("start_time"))
        if helper.get("log"):
            Path(helper["log"]).unlink(missing_ok=True)
    for job, step in (data.get("steps") or {}).items():
        if _stop_group(int(step["pid"]), step.get("start_time")):
            done.stopped.append(f"{job} (pid {step['pid']})")
    partials = {Path(s["partial"]) for s in (data.get("steps") or {}).values()}
    if lease_id and steps_root.is_dir():
        partials |= set(steps_root.glob(f"*{partial_marker(lease_id)}*"))
    for partial in sorted(partials):
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
            done.removed.append(partial)
    reason = (f"runner pid {done.owner_pid} died while the pipeline ran; cleaned up by pid "
              f"{os.getpid()}")
    children = [str(s["run_id"]) for s in (data.get("steps") or {}).values() if s.get("run_id")]
    tracking_uri = data.get("tracking_uri")
    if tracking_uri:
        close_runs(str(tracking_uri), [r for r in (run_id, *children) if r], "KILLED",
                   {"factory.end_reason": reason})
    log(f"recovered pipeline run {run_id[:12] or '(not started)'} of a runner that died (pid {done.owner_pid}): "
        f"stopped {', '.join(done.stopped) or 'no step still running'}; removed "
        f"{len(done.removed)} partial folder(s); marked its runs KILLED")
    return done
