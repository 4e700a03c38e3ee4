"""A warm server kept between builds: one per environment, found by a Unix socket.

Starting a fork server costs one import of the steps' libraries (pandas, scikit-learn, MLflow:
seconds), which every build paid again before its first step could start. A kept server
(forkserver.py --keep) pays it once: it listens on a socket in a private folder, and each build
connects, hands over its request and reply pipes, and gets a session forked from the warm
interpreter, which serves it as a server of its own would (launch.ForkServer cannot tell the
difference, apart from the process handle below). The server leaves after KEEP_ENV seconds
without a session, and as soon as its environment's packages or its own code change.

Its key is the interpreter's path and the start-up variables (launch.STARTUP_PREFIXES), so a
step is never forked from an interpreter started differently; it is started with those
variables and a few harmless ones only (PATH, HOME...), never the build's secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mlops.errors import FactoryError
from mlops.procinfo import start_time

KEEP_ENV = "FACTORY_WARM_KEEP_SECONDS"  # 0: no kept server, each build starts its own
KEEP_DEFAULT_SECONDS = 900.0  # a quarter of an hour between builds keeps it warm
DIR_ENV = "FACTORY_WARM_DIR"  # where the sockets live (default: <tmp>/model-factory-<uid>)
HARMLESS = ("PATH", "HOME", "USER", "TMPDIR")  # passed to the kept server besides start-up ones
START_TIMEOUT_SECONDS = 60.0  # from exec to a bound socket (no imports yet)
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


class KeptServerError(FactoryError):
    """No session could be had from a kept server (the build starts a server of its own)."""


def keep_seconds(environ: dict[str, str] | None = None) -> float:
    """KEEP_ENV as seconds (0 turns kept servers off)."""
    raw = (os.environ if environ is None else environ).get(KEEP_ENV, "").strip()
    if not raw:
        return KEEP_DEFAULT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise FactoryError(f"{KEEP_ENV}={raw!r}: expected a number of seconds >= 0 "
                           "(0 turns the kept warm server off)")
    return value


def folder(environ: dict[str, str] | None = None) -> Path:
    """The private folder of the sockets: created 0700, refused when another user owns it or
    others may enter it (a socket there runs code as whoever connects)."""
    raw = (os.environ if environ is None else environ).get(DIR_ENV, "").strip()
    path = Path(raw) if raw else Path(tempfile.gettempdir()) / f"model-factory-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise KeptServerError(f"{path}: expected a folder owned by uid {os.getuid()} with mode "
                              f"0700 (found uid {info.st_uid}, mode {oct(info.st_mode & 0o7777)})"
                              f"; set {DIR_ENV} to another folder")
    return path


def key(python: str, startup: dict[str, str], server: Path) -> str:
    """What a kept server must share with a build to serve it: the interpreter (its path, not
    the file a venv links to), the start-up variables, and the server's own code."""
    digest = hashlib.sha256()
    digest.update(json.dumps([os.path.abspath(python), sorted(startup.items())]).encode())
    digest.update(server.read_bytes())
    return digest.hexdigest()[:16]


class Session:
    """Handle of a session forked by a kept server: poll/wait/kill like Popen, by /proc (it is
    the kept server's child, not ours). Its pid arrives with the first reply (``known``)."""

    def __init__(self, socket_path: Path):
        self.socket_path = socket_path
        self.pid = 0
        self.returncode: int | None = None
        self._start: int | None = None

    def known(self, pid: int) -> None:
        self.pid, self._start = pid, start_time(pid)

    def _gone(self) -> bool:
        return self._start is None or start_time(self.pid) != self._start

    def poll(self) -> int | None:
        if self.returncode is None and self.pid and self._gone():
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Until the session is gone; one that never started (the kept server died first,
        or refused) counts as failed (-1)."""
        if not self.pid:
            self.returncode = -1 if self.returncode is None else self.returncode
            return self.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kept-server session {self.pid}", timeout or 0)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.pid and not self._gone():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None


def _start(python: str, env: dict[str, str], server: Path, path: Path, keep: float,
           warm_calls: dict[str, str]) -> socket.socket:
    """Start a kept server on ``path`` (a dead one's socket is removed first) and connect."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    log = path.with_suffix(".log")
    with log.open("a") as out:
        process = subprocess.Popen(
            [python, str(server), "--keep", str(path), repr(keep), json.dumps(warm_calls)],
            env=env, cwd=path.parent, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if process.poll() is not None:
            break
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise KeptServerError(f"the kept warm server did not open {path} (exit "
                          f"{process.poll()}); its log {log}:\n{tail}")


def _answer(sock: socket.socket, timeout: float) -> dict | None:
    """The kept server's one-line answer; {} when it closed without one (it was leaving),
    None when it said nothing within ``timeout``."""
    sock.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\n"):
            more = sock.recv(4096)
            if not more:
                break
            data += more
    except TimeoutError:
        return None
    except OSError:
        return {}
    try:
        return json.loads(data) if data.endswith(b"\n") else {}
    except ValueError:
        return {}


def session(python: str, env: dict[str, str], server: Path, log: Path, modules: list[str],
            pipes: tuple[int, int], keep: float, warm_calls: dict[str, str],
            timeout: float, later: list[str] | None = None) -> Session:
    """Hand ``pipes`` (request read end, reply write end) to the kept server of this
    environment, starting it when none answers; it forks a session that serves them, with
    ``modules`` imported (and ``later`` too, when an earlier build asked for them). ``env``:
    what the kept server starts with (see module doc); ``timeout``: for its answer, which
    waits while it imports for another build."""
    base = folder()
    startup = {k: v for k, v in env.items() if k not in HARMLESS}
    path = base / f"{key(python, startup, server)}.sock"
    if len(str(path)) > SOCKET_PATH_MAX:
        raise KeptServerError(f"{path}: a socket path longer than {SOCKET_PATH_MAX} bytes; set "
                              f"{DIR_ENV} to a shorter folder")
    hello = (json.dumps({"modules": modules, "log": str(log), "later": later or []})
             + "\n").encode()
    for _ in range(3):  # one that was leaving (idle, or its packages changed): a new one
        sock = _connect(path)
        if sock is None:
            with _locked(path.with_suffix(".lock")):
                sock = _connect(path) or _start(python, env, server, path, keep, warm_calls)
        with sock:
            socket.send_fds(sock, [hello], list(pipes))
            answer = _answer(sock, timeout)
        if answer is None:
            raise KeptServerError(f"the kept warm server at {path} did not answer within "
                                  f"{timeout:.0f}s (log: {path.with_suffix('.log')})")
        if answer.get("ok"):
            return Session(path)
    raise KeptServerError(f"the kept warm server at {path} kept leaving (log: "
                          f"{path.with_suffix('.log')})")


def stop_all(base: Path | None = None) -> list[Path]:
    """Ask every kept server in ``base`` (default: folder()) to leave; sessions of running
    builds go on. Returns the sockets of the servers that left."""
    left = []
    for path in sorted((base or folder()).glob("*.sock")):
        sock = _connect(path)
        if sock is None:
            continue
        with sock:
            sock.sendall(b'{"stop": true}\n')
            if (_answer(sock, 30.0) or {}).get("ok"):
                left.append(path)
    return left
