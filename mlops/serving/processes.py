"""Detached server processes: start in their own session with a log file, tell whether a pid
is still the process we started, stop a whole process group. Linux (/proc) only."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.procinfo import start_time


def spawn(argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, pass_fds: Sequence[int] = ()) -> subprocess.Popen:
    """Start argv in a new session (its own process group), output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=dict(env) if env else None,
                                cwd=cwd, start_new_session=True, pass_fds=tuple(pass_fds),
                                close_fds=True)


def is_alive(pid: int | None, started: int | None = None) -> bool:
    """True when pid runs and (if given) is the same process that started at ``started``."""
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def stop(pid: int | None, started: int | None = None, timeout: float = 10.0) -> bool:
    """SIGTERM the process group led by pid, SIGKILL it after timeout. True if it was running."""
    if not is_alive(pid, started):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_alive(pid, started):
                return True
            time.sleep(0.05)
    return True


def kill_group(pid: int) -> None:
    """SIGKILL a process group whose leader may already be gone (orphaned workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listen_socket(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port, inheritable so a child can serve it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def rotate_log(path: Path, max_bytes: int, backups: int) -> bool:
    """Past max_bytes, copy the log to <log>.1 (older ones shift up to <log>.<backups>) and
    truncate it in place. Writers keep their descriptor: they append (O_APPEND), so their next
    line lands at the start of the emptied file. True when it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except OSError:
        return False
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if backups > 0:
        tmp = path.with_name(f".{path.name}.1.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, path.with_name(f"{path.name}.1"))
    with open(path, "r+b") as fh:
        fh.truncate(0)
    return True


def processes_using(path: str | Path) -> list[tuple[int, int | None]]:
    """(pid, start time) of every other process with ``path`` or a path below it among its
    command-line arguments (how leftovers of a deployment or a registry are found)."""
    exact = str(path).rstrip("/").encode()
    below = exact + b"/"
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg == exact or arg.startswith(below) for arg in argv):
            pid = int(entry.name)
            started = start_time(pid)
            if started is not None:
                found.append((pid, started))
    return found


def children(pid: int) -> list[int]:
    """Live child processes of pid (e.g. a gunicorn master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    return [pid, *(p for child in children(pid) for p in tree(child))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes (and children they waited for) have used."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
