"""The processes of one online endpoint and how each comes back when it dies.

An endpoint runs three kinds of process, each recorded (pid + start time) in its EndpointRecord:

- the front (mlops.serving.front): the stable scoring URI, key check, proxy to the live slot;
- the keeper (mlops.serving.keeper): restarts the front and the live deployment, rotates logs;
- deployments (mlops.serving.inference_server, azmlinfsrv): gunicorn restarts its own workers.

The front and the keeper both hold the endpoint's listening socket, so the port never closes
while one of them restarts (connections wait in the kernel's backlog), and each restarts the
other: any single process killed comes back within about a second, a deployment once its model
has loaded. A restart is decided and recorded under the record lock, and never while the record
says "stopping" (undeploy, destroy), so nothing is restarted behind the back of a stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from mlops.records import EndpointRecord, OnlineDeployment, ProcessRef
from mlops.serving import processes
from mlops.serving.client import wait_until_up
from mlops.serving.registry import EndpointRegistry
from mlops.serving.settings import TOKEN_ENV, TOKEN_HEADER

ROLES = ("front", "keeper")


def log(role: str, message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {role}[{os.getpid()}]: {message}",
          file=sys.stderr, flush=True)


def alive(ref: ProcessRef | None) -> bool:
    return ref is not None and processes.is_alive(ref.pid, ref.start)


def stop(ref: ProcessRef | None, timeout: float = 10.0) -> bool:
    return ref is not None and processes.stop(ref.pid, ref.start, timeout=timeout)


def ref_of(proc: subprocess.Popen) -> ProcessRef:
    return ProcessRef(proc.pid, processes.start_time(proc.pid))


# -- deployments --------------------------------------------------------------------------------
def token_headers(registry: EndpointRegistry, name: str, dep: OnlineDeployment) -> dict[str, str]:
    return {TOKEN_HEADER: registry.deployment_token(name, dep.folder)}


def spawn_deployment(registry: EndpointRegistry, name: str,
                     dep: OnlineDeployment) -> subprocess.Popen:
    env = {**os.environ, **dep.env, TOKEN_ENV: registry.deployment_token(name, dep.folder)}
    return processes.spawn(dep.command, Path(dep.log), env=env, cwd=Path(dep.cwd))


def wait_deployment(registry: EndpointRegistry, name: str, dep: OnlineDeployment,
                    proc: subprocess.Popen, timeout: float) -> bool:
    """True once the deployment answers its liveness route (its init() has run)."""
    return wait_until_up(f"http://127.0.0.1:{dep.port}/", timeout,
                         alive=lambda: proc.poll() is None,
                         headers=token_headers(registry, name, dep))


# -- front and keeper ---------------------------------------------------------------------------
def role_log(registry: EndpointRegistry, name: str, role: str) -> Path:
    return registry.endpoint_dir(name) / f"{role}.log"


def spawn_role(registry: EndpointRegistry, name: str, role: str, fd: int) -> subprocess.Popen:
    """Start the front or the keeper, handing it the endpoint's listening socket (fd)."""
    return processes.spawn([sys.executable, "-m", f"mlops.serving.{role}", "--registry",
                            str(registry.root), "--name", name, "--fd", str(fd)],
                           role_log(registry, name, role), env=dict(os.environ),
                           pass_fds=(fd,))


def parse_role_arguments(role: str, argv: list[str] | None) -> tuple[Path, str, int]:
    """(registry root, endpoint name, listening socket fd) from a front's or keeper's
    command line (the one spawn_role writes)."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m mlops.serving.{role}")
    parser.add_argument("--registry", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--fd", required=True, type=int)
    args = parser.parse_args(argv)
    return args.registry, args.name, args.fd


def respawn(registry: EndpointRegistry, name: str, role: str, fd: int,
            seen: ProcessRef | None) -> subprocess.Popen | None:
    """Start a new front or keeper when the record still names the dead process ``seen`` and
    the endpoint is not being stopped; the new process is recorded under the same lock."""
    started: list[subprocess.Popen] = []

    def change(record: EndpointRecord | None) -> EndpointRecord | None:
        if record is None or record.status == "stopping" or getattr(record, role) != seen:
            return record
        if alive(seen):
            return record
        proc = spawn_role(registry, name, role, fd)
        started.append(proc)
        return replace(record, **{role: ref_of(proc)})

    registry.update(name, change)
    return started[0] if started else None


def claim(registry: EndpointRegistry, name: str, role: str, me: ProcessRef) -> bool:
    """Whether this process is the endpoint's ``role``. A front or keeper started just before
    its starter died is not recorded yet: it records itself when the record names a dead
    process; when the record names another live one, it must go (False)."""
    mine = []

    def change(record: EndpointRecord | None) -> EndpointRecord | None:
        if record is None:
            return record
        current = getattr(record, role)
        if current == me:
            mine.append(True)
            return record
        if alive(current):
            return record
        mine.append(True)
        return replace(record, **{role: me})

    registry.update(name, change)
    return bool(mine)


def role_processes(registry: EndpointRegistry, name: str) -> list[tuple[int, int | None]]:
    """(pid, start) of every front and keeper of this endpoint, recorded or not (found by
    their command lines, as spawn_role writes them)."""
    wanted = [b"--registry", str(registry.root).encode(), b"--name", name.encode()]
    modules = {f"mlops.serving.{role}".encode() for role in ROLES}
    found = []
    for pid, start in processes.processes_using(registry.root):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pairs = list(zip(argv, argv[1:], strict=False))
        if (modules & set(argv) and (wanted[0], wanted[1]) in pairs
                and (wanted[2], wanted[3]) in pairs):
            found.append((pid, start))
    return found


def kill_role_processes(registry: EndpointRegistry, name: str, rounds: int = 20) -> None:
    """SIGKILL every front and keeper of the endpoint until none is left: one killed while it
    was starting another leaves that one behind, so look again until a look finds none."""
    for _ in range(rounds):
        found = role_processes(registry, name)
        if not found:
            return
        for pid, start in found:
            if processes.is_alive(pid, start):
                processes.kill_group(pid)
        time.sleep(0.1)


class Reaper:
    """Children this process started: waited for when they exit, so none stays a zombie."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []

    def add(self, proc: subprocess.Popen | None) -> None:
        if proc is not None:
            self.children.append(proc)

    def reap(self) -> None:
        self.children = [c for c in self.children if c.poll() is None]


class Backoff:
    """Restarts of a process that keeps dying slow down (0.5, 1, 2... s up to a cap); one that
    has run for ``steady`` seconds is restarted at once next time."""

    def __init__(self, cap: float, steady: float = 10.0):
        self.cap, self.steady = cap, steady
        self.delay, self.next_at, self.started_at = 0.0, 0.0, 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.next_at

    def started(self) -> None:
        now = time.monotonic()
        self.delay = min(self.cap, max(0.5, self.delay * 2))
        self.started_at, self.next_at = now, now + self.delay

    def running(self) -> None:
        if time.monotonic() - self.started_at > self.steady:
            self.delay, self.next_at = 0.0, 0.0
