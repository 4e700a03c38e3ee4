"""Local online endpoints: blue/green deployments of azureml-inference-server-http behind the
key-auth front (mlops.serving.front), kept running by the endpoint's keeper
(mlops.serving.keeper), recorded in the endpoint registry.

deploy: start the new deployment on a fresh port, wait for health, smoke-test it with the
sample request, switch the front's upstream atomically, drain and stop the old deployment.
Requests never see the gap: the front holds a request until its upstream answers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlops.errors import FactoryError
from mlops.records import EndpointRecord, OnlineDeployment
from mlops.serving import code_folder, processes, supervision
from mlops.serving.client import Reply, request, wait_until_up
from mlops.serving.front import RELOAD_PATH, STATUS_PATH
from mlops.serving.registry import EndpointRegistry
from mlops.serving.settings import (
    DEPLOYMENT_DEFAULTS,
    DRAIN_TIMEOUT_S,
    FRONT_READY_TIMEOUT_S,
    READY_TIMEOUT_S,
    EndpointLimits,
    LimitError,
    default_worker_count,
)

SLOTS = ("blue", "green")


class DeploymentError(FactoryError):
    """A new deployment did not become healthy or failed its smoke test; the old one serves."""


@dataclass(frozen=True)
class OnlineSpec:
    endpoint: str  # ENDPOINT_NAME
    model: str  # the factory's model (nyc_taxi)
    model_name: str  # registered MLflow model name
    model_version: str
    model_dir: Path  # folder holding MLmodel (copied into the deployment)
    serving_dir: Path  # the model's serving/online folder (may not exist: factory script)
    sample_request: Path
    first_slot: str = "blue"  # DEPLOYMENT_NAME of the first deployment
    environment: Mapping[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.model_name}:{self.model_version}".encode())
        digest.update(json.dumps(dict(self.environment), sort_keys=True).encode())
        digest.update(code_folder.fingerprint(self.serving_dir, "online").encode())
        return digest.hexdigest()[:16]

    def deployment_env(self, code: Path) -> dict[str, str]:
        """azmlinfsrv's environment: one worker per core and one OpenMP thread each unless
        the realtime config's ENVIRONMENT_VARIABLES say otherwise."""
        return {"AML_APP_ROOT": str(code), "WORKER_COUNT": default_worker_count(),
                **DEPLOYMENT_DEFAULTS, **self.environment}


def scoring_uri(port: int) -> str:
    return f"http://127.0.0.1:{port}/score"


def is_running(record: EndpointRecord | None) -> bool:
    """The endpoint's front or keeper runs (the keeper brings the front back)."""
    return record is not None and (supervision.alive(record.front)
                                   or supervision.alive(record.keeper))


def deploy(registry: EndpointRegistry, spec: OnlineSpec, *, force: bool = False,
           say: Callable[[str], None] = print) -> EndpointRecord:
    """Deploy (or redeploy) spec behind its endpoint; returns the endpoint record."""
    try:
        EndpointLimits.from_env(spec.environment)
    except LimitError as exc:
        raise DeploymentError(f"{spec.endpoint}: {exc}") from None
    with registry.deploy_lock(spec.endpoint):
        key = registry.ensure_key(spec.endpoint)
        record = registry.read(spec.endpoint)
        if record is not None and record.kind != "online":
            raise DeploymentError(f"endpoint name {spec.endpoint!r} is already a {record.kind} "
                                  f"endpoint; the online ENDPOINT_NAME must differ")
        if record is not None and record.status == "stopping":
            stop_processes(registry, record)  # an undeploy that did not finish: finish its stop
        running = is_running(record) and record.status != "stopping"
        old_slot = record.live if record else None
        if (record and running and not force and old_slot
                and record.fingerprint == spec.fingerprint()
                and endpoint_status(record) == "healthy"):
            say(f"{spec.endpoint}: already serving {spec.model_name} version "
                f"{spec.model_version}; nothing to do")
            return record
        slot = _next_slot(old_slot, spec.first_slot)
        say(f"{spec.endpoint}: starting deployment {slot} ({spec.model_name} "
            f"version {spec.model_version})")
        new = _start_deployment(registry, spec, slot)
        try:
            _smoke_test(spec, f"http://127.0.0.1:{new.port}/score",
                        supervision.token_headers(registry, spec.endpoint, new))
        except DeploymentError:
            supervision.stop(new.process)
            shutil.rmtree(new.folder, ignore_errors=True)
            raise
        say(f"{spec.endpoint}: deployment {slot} healthy and passed its smoke test "
            f"(port {new.port})")
        record = _switch(registry, spec, slot, new, running, say)
        _smoke_test(spec, record.scoring_uri, {"Authorization": f"Bearer {key}"})
        say(f"{spec.endpoint}: serving version {spec.model_version} at {record.scoring_uri}")
        return record


def _next_slot(current: str | None, first: str) -> str:
    if current is None:
        return first
    others = [s for s in (*SLOTS, first) if s != current]
    return others[0]


def _start_deployment(registry: EndpointRegistry, spec: OnlineSpec,
                      slot: str) -> OnlineDeployment:
    stamp = time.strftime("%Y%m%d%H%M%S")
    folder = registry.endpoint_dir(spec.endpoint) / "deployments" / f"{slot}-{stamp}"
    if folder.exists():
        shutil.rmtree(folder)
    code = code_folder.stage(spec.serving_dir, "online", folder / "code")
    model = folder / "model"
    shutil.copytree(spec.model_dir, model / spec.model_dir.name)
    log = folder / "server.log"
    last_error = ""
    for _ in range(2):  # a port taken between probe and bind gets one more try
        port = processes.free_port()
        dep = OnlineDeployment(
            slot=slot, port=port, folder=str(folder), model_version=spec.model_version,
            command=(sys.executable, "-m", "mlops.serving.inference_server", "--entry_script",
                     str(code / code_folder.SCRIPT_NAME), "--model_dir", str(model),
                     "--port", str(port)),
            cwd=str(code), log=str(log), env=spec.deployment_env(code), started_at=time.time())
        proc = supervision.spawn_deployment(registry, spec.endpoint, dep)
        dep = replace(dep, process=supervision.ref_of(proc))
        if supervision.wait_deployment(registry, spec.endpoint, dep, proc, READY_TIMEOUT_S):
            return dep
        supervision.stop(dep.process)
        last_error = processes.log_tail(log)
        if "Address already in use" not in last_error:
            break
    raise DeploymentError(f"{spec.endpoint}: deployment {slot} did not become healthy within "
                          f"{READY_TIMEOUT_S:.0f} s; log {log}:\n{last_error}")


def _smoke_test(spec: OnlineSpec, url: str, headers: dict[str, str]) -> list:
    try:
        body = spec.sample_request.read_bytes()
    except OSError as exc:
        raise DeploymentError(f"{spec.sample_request}: cannot read the sample request: {exc}") from None
    try:
        reply = request(url, body, headers=headers, timeout=60)
    except OSError as exc:
        raise DeploymentError(f"{spec.endpoint}: smoke test could not reach {url}: {exc}") from exc
    return check_predictions(reply, spec.sample_request, spec.endpoint)


def check_predictions(reply: Reply, sample: Path, endpoint: str) -> list:
    """The predictions of a 200 reply to the sample request, one per input row."""
    try:
        data = json.loads(sample.read_text())["input_data"]
        expected = len(data["data"]) if isinstance(data, dict) else len(data)
    except (ValueError, KeyError, TypeError, OSError):
        expected = None
    if reply.status != 200:
        raise DeploymentError(f"{endpoint}: smoke test with {sample} got HTTP {reply.status}: "
                              f"{reply.text[:500]}")
    try:
        predictions = reply.json()["predictions"]
    except (ValueError, KeyError, TypeError):
        raise DeploymentError(f"{endpoint}: smoke test reply has no 'predictions': "
                              f"{reply.text[:500]}") from None
    if isinstance(expected, int) and len(predictions) != expected:
        raise DeploymentError(f"{endpoint}: smoke test sent {expected} rows, got "
                              f"{len(predictions)} predictions")
    return predictions


def _switch(registry: EndpointRegistry, spec: OnlineSpec, slot: str, new: OnlineDeployment,
            running: bool, say: Callable[[str], None]) -> EndpointRecord:
    """Make ``new`` the live deployment; stop the previous one once drained."""

    def make_live(current: EndpointRecord | None) -> EndpointRecord:
        base = current if current is not None and current.kind == "online" else EndpointRecord(
            name=spec.endpoint, kind="online", model=spec.model, model_name=spec.model_name,
            model_version=spec.model_version, status="healthy")
        deployments = {k: v for k, v in base.deployments.items() if k != slot}
        deployments[slot] = new
        return replace(base, model=spec.model, model_name=spec.model_name,
                       model_version=spec.model_version, live=slot, status="healthy",
                       fingerprint=spec.fingerprint(), first_slot=spec.first_slot,
                       deployments=deployments)

    record = registry.update(spec.endpoint, make_live)
    key = registry.read_key(spec.endpoint)
    if running:
        _wait_front(registry, record, key)
        try:
            reply = request(f"http://127.0.0.1:{record.port}{RELOAD_PATH}", b"{}", key=key,
                            timeout=30)
        except OSError as exc:
            raise DeploymentError(f"{spec.endpoint}: the front stopped answering during the "
                                  f"switch ({exc}); run the deploy again") from exc
        if reply.status != 200:
            raise DeploymentError(f"{spec.endpoint}: the front refused the switch: {reply.text}")
        say(f"{spec.endpoint}: traffic switched to {slot}")
    else:
        record = _start_endpoint(registry, spec.endpoint, record, key)
    # Read again: the keeper may have restarted an old deployment (new pid) meanwhile.
    current = registry.read(spec.endpoint) or record
    for old_slot, dep in current.deployments.items():
        if old_slot == slot:
            continue
        if running:
            _drain(record.port, dep, key, spec.endpoint)
        if supervision.stop(dep.process):
            say(f"{spec.endpoint}: stopped deployment {old_slot} (version {dep.model_version})")
        shutil.rmtree(dep.folder, ignore_errors=True)

    def forget_old(current: EndpointRecord | None) -> EndpointRecord | None:
        if current is None:
            return None
        return replace(current, deployments={k: v for k, v in current.deployments.items()
                                             if k == slot})

    return registry.update(spec.endpoint, forget_old)


def _wait_front(registry: EndpointRegistry, record: EndpointRecord, key: str) -> None:
    """The front answers (the keeper may be bringing it back right now)."""
    url = f"http://127.0.0.1:{record.port}{STATUS_PATH}"
    if not wait_until_up(url, FRONT_READY_TIMEOUT_S, key=key):
        raise DeploymentError(f"{record.name}: the front on port {record.port} does not answer; "
                              f"log {supervision.role_log(registry, record.name, 'front')}:\n"
                              f"{processes.log_tail(supervision.role_log(registry, record.name, 'front'))}")


def _drain(port: int, dep: OnlineDeployment, key: str, endpoint: str) -> None:
    """Wait until the front has no request in flight to the old deployment's port."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            status = request(f"http://127.0.0.1:{port}{STATUS_PATH}", key=key, timeout=10).json()
        except (OSError, ValueError):
            return
        if not status.get("inflight", {}).get(str(dep.port)):
            return
        time.sleep(0.05)
    print(f"{endpoint}: requests to the old deployment still running after "
          f"{DRAIN_TIMEOUT_S:.0f} s; stopping it anyway", flush=True)


def _start_endpoint(registry: EndpointRegistry, name: str, record: EndpointRecord,
                    key: str) -> EndpointRecord:
    """Bind the stable port and start the keeper, which starts the front. A front or keeper
    nobody recorded (its starter died while starting it) would hold the port: stopped first."""
    supervision.kill_role_processes(registry, name)
    sock = _bind_stable_port(name, record.port, registry.ports)
    try:
        port = sock.getsockname()[1]
        registry.update(name, lambda r: replace(r, port=port, scoring_uri=scoring_uri(port),
                                                front=None, keeper=None, front_log=str(
                                                    supervision.role_log(registry, name,
                                                                         "front"))))
        proc = supervision.respawn(registry, name, "keeper", sock.fileno(), None)
    finally:
        sock.close()  # the keeper and the front hold their own copies
    if proc is None:
        raise DeploymentError(f"{name}: the endpoint record changed while starting it; "
                              f"deploy again")
    url = f"http://127.0.0.1:{port}{STATUS_PATH}"
    if not wait_until_up(url, FRONT_READY_TIMEOUT_S, alive=lambda: proc.poll() is None,
                         key=key):
        current = registry.read(name)
        stop_processes(registry, current)
        logs = "\n".join(f"{role}.log:\n{processes.log_tail(supervision.role_log(registry, name, role))}"
                         for role in supervision.ROLES)
        raise DeploymentError(f"{name}: the endpoint front did not start:\n{logs}")
    return registry.read(name)


PORT_SCAN = 200  # ports tried from the name's place in the range


def stable_ports(name: str, ports: tuple[int, int]) -> list[int]:
    """The ports an endpoint's front tries, in order: from the name's place in the
    environment's range, wrapping inside it (so two environments' fronts never meet)."""
    first, last = ports
    size = last - first + 1
    base = int(hashlib.sha256(name.encode()).hexdigest(), 16) % size
    return [first + (base + i) % size for i in range(min(PORT_SCAN, size))]


def _bind_stable_port(name: str, recorded: int | None, ports: tuple[int, int]):
    """The endpoint keeps its port across deploys; the first one derives it from the name,
    inside its environment's range."""
    if recorded:
        try:
            return processes.listen_socket(recorded)
        except OSError as exc:
            raise DeploymentError(f"{name}: its scoring port {recorded} is taken by another "
                                  f"process ({exc}); free it or undeploy {name}") from None
    candidates = stable_ports(name, ports)
    for port in candidates:
        try:
            return processes.listen_socket(port)
        except OSError:
            continue
    raise DeploymentError(f"{name}: no free port among {len(candidates)} tried in "
                          f"{ports[0]}-{ports[1]} on 127.0.0.1")


def endpoint_status(record: EndpointRecord) -> str:
    """healthy | restarting | unhealthy | stopping | down (neither front nor keeper runs)."""
    if not is_running(record):
        return "down"
    if record.status != "healthy":
        return record.status
    live = record.live_deployment
    if not supervision.alive(record.front) or live is None or not supervision.alive(live.process):
        return "restarting"  # the keeper notices within half a second
    return "healthy"


def stop_processes(registry: EndpointRegistry, record: EndpointRecord | None) -> list[str]:
    """Stop the keeper first (it would restart the others), then the front (recorded or not)
    and the deployments."""
    if record is None:
        return []
    stopped = []
    for role in ("keeper", "front"):
        ref = getattr(record, role)
        if supervision.stop(ref):
            stopped.append(f"{role} pid {ref.pid}")
    for pid, start in supervision.role_processes(registry, record.name):
        if processes.stop(pid, start):
            stopped.append(f"unrecorded front or keeper pid {pid}")
    for slot, dep in record.deployments.items():
        if supervision.stop(dep.process):
            stopped.append(f"deployment {slot} pid {dep.process.pid}")
        for pid, start in processes.processes_using(dep.folder):
            if processes.stop(pid, start):
                stopped.append(f"deployment {slot} pid {pid}")
    return stopped


def undeploy(registry: EndpointRegistry, name: str) -> list[str]:
    """Stop the front, keeper and every deployment of an endpoint; remove its record, key and
    files. The record says "stopping" first, so nothing restarts what is being stopped."""
    with registry.deploy_lock(name):
        record = registry.read(name)
        if record is None:
            return []
        record = registry.update(name, lambda r: r and replace(r, status="stopping"))
        stopped = stop_processes(registry, record)
        registry.remove(name)
        shutil.rmtree(registry.endpoint_dir(name), ignore_errors=True)
        detail = f" (stopped {', '.join(stopped)})" if stopped else " (no process was running)"
        return [f"online endpoint {name}{detail}"]


def invoke(registry: EndpointRegistry, name: str, body: bytes, timeout: float = 60) -> Reply:
    record = registry.read(name)
    if record is None:
        raise FactoryError(f"online endpoint {name!r} is not deployed; run `nox -s deploy`")
    try:
        return request(record.scoring_uri, body, key=registry.read_key(name), timeout=timeout)
    except OSError as exc:
        raise FactoryError(f"{name}: cannot reach {record.scoring_uri} ({exc}); status "
                           f"{endpoint_status(record)}; redeploy with `nox -s deploy`") from exc
