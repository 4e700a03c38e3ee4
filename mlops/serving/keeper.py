"""The keeper of one online endpoint: restarts the front when it dies (the listening socket
stays open in the keeper meanwhile, so clients wait instead of being refused), restarts the
live deployment when its server dies (the front holds requests meanwhile; "unhealthy" with
HTTP 503 after MAX_RESTART_ATTEMPTS failures in a row), and keeps the endpoint's logs under
EndpointLimits.log_max_bytes (copied aside, then truncated). The front restarts the keeper in
turn (mlops/serving/supervision.py).

Run as ``python -m mlops.serving.keeper --registry DIR --name NAME --fd FD``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from mlops.records import EndpointRecord, OnlineDeployment, ProcessRef
from mlops.serving import processes, supervision
from mlops.serving.registry import EndpointRegistry, RegistryError
from mlops.serving.settings import (
    LOG_BACKUPS,
    MAX_RESTART_ATTEMPTS,
    READY_TIMEOUT_S,
    RESPAWN_BACKOFF_MAX_S,
    SUPERVISE_EVERY_S,
    EndpointLimits,
    LimitError,
)

ROTATE_EVERY_S = 5.0
MISSING_RECORD_LIMIT = 6  # consecutive looks without a record: the endpoint is gone, exit


def _log(message: str) -> None:
    supervision.log("keeper", message)


class Keeper:
    def __init__(self, registry: EndpointRegistry, name: str, fd: int):
        self.registry, self.name, self.fd = registry, name, fd
        self.me = ProcessRef(os.getpid(), processes.start_time(os.getpid()))
        self.reaper = supervision.Reaper()
        self.front_backoff = supervision.Backoff(RESPAWN_BACKOFF_MAX_S)
        self.done = threading.Event()

    def run(self) -> None:
        threading.Thread(target=self._watch_deployments, name="deployments", daemon=True).start()
        missing, rotated = 0, 0.0
        while not self.done.is_set():
            self.reaper.reap()
            record = self._read()
            if record is None:
                missing += 1
                if missing >= MISSING_RECORD_LIMIT:
                    _log(f"endpoint {self.name} has no record any more; exiting")
                    break
            elif record.status == "stopping":
                _log(f"endpoint {self.name} is being stopped; exiting")
                break
            elif not supervision.claim(self.registry, self.name, "keeper", self.me):
                _log(f"another keeper runs endpoint {self.name}; exiting")
                break
            else:
                missing = 0
                self._watch_front(record)
                if time.monotonic() - rotated > ROTATE_EVERY_S:
                    rotated = time.monotonic()
                    self._rotate(record)
            self.done.wait(SUPERVISE_EVERY_S)
        self.done.set()

    def _read(self) -> EndpointRecord | None:
        try:
            return self.registry.read(self.name)
        except (RegistryError, OSError) as exc:
            _log(f"cannot read the record: {exc}")
            return None

    # the front
    def _watch_front(self, record: EndpointRecord) -> None:
        if supervision.alive(record.front):
            self.front_backoff.running()
            return
        if not self.front_backoff.ready():
            return
        proc = supervision.respawn(self.registry, self.name, "front", self.fd, record.front)
        if proc is not None:
            self.reaper.add(proc)
            self.front_backoff.started()
            gone = f"pid {record.front.pid} " if record.front else ""
            _log(f"front {gone}is gone; started front pid {proc.pid}")

    # the live deployment
    def _watch_deployments(self) -> None:
        while not self.done.is_set():
            record = self._read()
            if record is not None and record.status not in ("stopping", "unhealthy"):
                dep = record.live_deployment
                if dep is not None and not supervision.alive(dep.process):
                    try:
                        self._restart(dep)
                    except (RegistryError, OSError) as exc:
                        _log(f"restarting deployment {dep.slot} failed: {exc}")
            self.done.wait(SUPERVISE_EVERY_S)

    def _claim(self, dep: OnlineDeployment) -> bool:
        """Mark the endpoint restarting if dep is still live, still dead and nobody stops it."""
        claimed = []

        def change(record: EndpointRecord | None) -> EndpointRecord | None:
            if (record is None or record.status in ("stopping", "unhealthy")
                    or record.live != dep.slot
                    or record.deployments[dep.slot].process != dep.process
                    or supervision.alive(dep.process)):
                return record
            claimed.append(True)
            return replace(record, status="restarting")

        self.registry.update(self.name, change)
        return bool(claimed)

    def _restart(self, dep: OnlineDeployment) -> None:
        if not self._claim(dep):
            return
        gone = f"pid {dep.process.pid} " if dep.process else ""
        _log(f"deployment {dep.slot} {gone}is gone; restarting it on port {dep.port}")
        if dep.process is not None:
            processes.kill_group(dep.process.pid)  # orphaned workers would hold the port
        for pid, start in processes.processes_using(dep.folder):
            processes.stop(pid, start, timeout=2)  # a restart a previous keeper left behind
        for attempt in range(1, MAX_RESTART_ATTEMPTS + 1):
            proc = supervision.spawn_deployment(self.registry, self.name, dep)
            self.reaper.add(proc)
            ready = supervision.wait_deployment(self.registry, self.name, dep, proc,
                                                READY_TIMEOUT_S)
            ref = supervision.ref_of(proc)
            if ready and self._record_restarted(dep, ref):
                _log(f"deployment {dep.slot} restarted (pid {proc.pid}, attempt {attempt})")
                return
            processes.stop(proc.pid, ref.start, timeout=5)
            if ready:  # switched away or stopping meanwhile: nobody needs this process
                return
            tail = processes.log_tail(Path(dep.log), 5)
            _log(f"restart attempt {attempt} of deployment {dep.slot} failed; see {dep.log}")
            if "Address already in use" in tail:
                dep = replace(dep, port=processes.free_port())
        self._set_unhealthy(dep)

    def _record_restarted(self, dep: OnlineDeployment, ref: ProcessRef) -> bool:
        done = []

        def change(record: EndpointRecord | None) -> EndpointRecord | None:
            if record is None or record.live != dep.slot or record.status != "restarting":
                return record
            done.append(True)
            deployments = {**record.deployments, dep.slot: replace(dep, process=ref)}
            return replace(record, deployments=deployments, status="healthy",
                           restarts=record.restarts + 1)

        self.registry.update(self.name, change)
        return bool(done)

    def _set_unhealthy(self, dep: OnlineDeployment) -> None:
        def change(record: EndpointRecord | None) -> EndpointRecord | None:
            if record is None or record.live != dep.slot or record.status != "restarting":
                return record
            return replace(record, status="unhealthy")

        self.registry.update(self.name, change)
        _log(f"deployment {dep.slot} could not be restarted; endpoint unhealthy (HTTP 503) "
             f"until the next deploy")

    # logs
    def _rotate(self, record: EndpointRecord) -> None:
        live = record.live_deployment
        try:
            limit = EndpointLimits.from_env(live.env if live else {}).log_max_bytes
        except LimitError:
            limit = EndpointLimits().log_max_bytes
        logs = [supervision.role_log(self.registry, self.name, role)
                for role in supervision.ROLES]
        logs += [Path(dep.log) for dep in record.deployments.values()]
        for path in logs:
            try:
                if processes.rotate_log(path, limit, LOG_BACKUPS):
                    _log(f"rotated {path.name}")
            except OSError as exc:
                _log(f"cannot rotate {path}: {exc}")


def main(argv: list[str] | None = None) -> int:
    root, name, fd = supervision.parse_role_arguments("keeper", argv)
    keeper = Keeper(EndpointRegistry(root), name, fd)
    signal.signal(signal.SIGTERM, lambda *_: keeper.done.set())
    _log(f"keeping endpoint {name}")
    keeper.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
