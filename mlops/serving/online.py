"""Local online endpoints: blue/green deployments of azureml-inference-server-http behind the
key-auth front (mlops.serving.front), recorded in the endpoint registry.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError
from mlops.serving import code_folder, processes
from mlops.serving.client import Reply, request, wait_until_up
from mlops.serving.front import RELOAD_PATH, STATUS_PATH
from mlops.serving.registry import EndpointRegistry

READY_TIMEOUT_S = 180.0
DRAIN_TIMEOUT_S = 60.0
SLOTS = ("blue", "green")
# One OpenMP thread per server worker unless ENVIRONMENT_VARIABLES say otherwise: measured on
# the nyc_taxi model (histogram gradient boosting), OpenMP threads fighting over 2 busy cores
# turned 10 ms requests into 0.2-3.6 s ones (docs/benchmarks.md).
SERVING_DEFAULTS = {"OMP_NUM_THREADS": "1"}


class DeploymentError(FactoryError):
    """A new deployment did not become healthy or failed its smoke test; the old one serves."""


@dataclass(frozen=True)
class OnlineSpec:
    endpoint: str  # ENDPOINT_NAME
    model: str  # the factory's model (nyc_taxi)
    model_name: str  # registered MLflow model name
    model_version: str
    model_dir: Path  # folder holding MLmodel (copied into the deployment)
    code_dir: Path  # serving/online (staged: the deployment keeps its own snapshot)
    sample_request: Path
    first_slot: str = "blue"  # DEPLOYMENT_NAME of the first deployment
    environment: Mapping[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.model_name}:{self.model_version}".encode())
        digest.update(json.dumps(dict(self.environment), sort_keys=True).encode())
        digest.update(code_folder.fingerprint(self.code_dir).encode())
        return digest.hexdigest()[:16]


def scoring_uri(port: int) -> str:
    return f"http://127.0.0.1:{port}/score"


def deploy(registry: EndpointRegistry, spec: OnlineSpec, *, force: bool = False,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Deploy (or redeploy) spec behind its endpoint; returns the endpoint record."""
    with registry.deploy_lock(spec.endpoint):
        key = registry.ensure_key(spec.endpoint)
        record = registry.read(spec.endpoint)
        front_up = bool(record) and processes.is_alive(record.get("front_pid"),
                                                       record.get("front_pid_start"))
        old_slot = record.get("live") if record else None
        if (record and front_up and not force and old_slot
                and record.get("fingerprint") == spec.fingerprint()
                and endpoint_status(record) == "healthy"):
            say(f"{spec.endpoint}: already serving {spec.model_name} version "
                f"{spec.model_version}; nothing to do")
            return record
        slot = _next_slot(old_slot, spec.first_slot)
        say(f"{spec.endpoint}: starting deployment {slot} ({spec.model_name} "
            f"version {spec.model_version})")
        new = _start_deployment(registry, spec, slot)
        try:
            _smoke_test(spec, f"http://127.0.0.1:{new['port']}/score", None)
        except DeploymentError:
            processes.stop(new["pid"], new["pid_start"])
            raise
        say(f"{spec.endpoint}: deployment {slot} healthy and passed its smoke test "
            f"(port {new['port']})")
        record = _switch(registry, spec, slot, new, record, front_up, say)
        _smoke_test(spec, record["scoring_uri"], key)
        say(f"{spec.endpoint}: serving version {spec.model_version} at {record['scoring_uri']}")
        return record


def _next_slot(current: str | None, first: str) -> str:
    if current is None:
        return first
    others = [s for s in (*SLOTS, first) if s != current]
    return others[0]


def _start_deployment(registry: EndpointRegistry, spec: OnlineSpec, slot: str) -> dict:
    stamp = time.strftime("%Y%m%d%H%M%S")
    folder = registry.endpoint_dir(spec.endpoint) / "deployments" / f"{slot}-{stamp}"
    if folder.exists():
        shutil.rmtree(folder)
    code = folder / "code"
    code_folder.stage(spec.code_dir, code)
    model = folder / "model"
    shutil.copytree(spec.model_dir, model / spec.model_dir.name)
    log = folder / "server.log"
    env = {"AML_APP_ROOT": str(code), **SERVING_DEFAULTS, **spec.environment}
    last_error = ""
    for _ in range(2):  # a port taken between probe and bind gets one more try
        port = processes.free_port()
        command = [sys.executable, "-m", "mlops.serving.inference_server",
                   "--entry_script", str(code / "score.py"), "--model_dir", str(model),
                   "--port", str(port)]
        proc = processes.spawn(command, log, env=_full_env(env), cwd=code)
        started = processes.start_time(proc.pid)
        if wait_until_up(f"http://127.0.0.1:{port}/", READY_TIMEOUT_S,
                         alive=lambda p=proc: p.poll() is None):
            return {"slot": slot, "port": port, "pid": proc.pid, "pid_start": started,
                    "command": command, "env": env, "cwd": str(code), "log": str(log),
                    "folder": str(folder), "model_version": spec.model_version,
                    "started_at": time.time()}
        processes.stop(proc.pid, started)
        last_error = processes.log_tail(log)
        if "Address already in use" not in last_error:
            break
    raise DeploymentError(f"{spec.endpoint}: deployment {slot} did not become healthy within "
                          f"{READY_TIMEOUT_S:.0f} s; log {log}:\n{last_error}")


def _full_env(extra: Mapping[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def _smoke_test(spec: OnlineSpec, url: str, key: str | None) -> list:
    try:
        body = spec.sample_request.read_bytes()
    except OSError as exc:
        raise DeploymentError(f"{spec.sample_request}: cannot read the sample request: {exc}") from None
    try:
        reply = request(url, body, key=key, timeout=60)
    except OSError as exc:
        raise DeploymentError(f"{spec.endpoint}: smoke test could not reach {url}: {exc}") from exc
    return check_predictions(reply, spec.sample_request, spec.endpoint)


def check_predictions(reply: Reply, sample: Path, endpoint: str) -> list:
    """The predictions of a 200 reply to the sample request, one per input row."""
    try:
        expected = len(json.loads(sample.read_text())["input_data"])
    except (ValueError, KeyError, TypeError):
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


def _switch(registry: EndpointRegistry, spec: OnlineSpec, slot: str, new: dict,
            record: dict | None, front_up: bool, say: Callable[[str], None]) -> dict:
    """Make ``new`` the live deployment; stop the previous one once drained."""
    port = (record or {}).get("port")

    def make_live(current):
        current = dict(current or {})
        current.update(kind="online", model=spec.model, model_name=spec.model_name,
                       model_version=spec.model_version, live=slot, status="healthy",
                       fingerprint=spec.fingerprint(), first_slot=spec.first_slot)
        deployments = {k: v for k, v in current.get("deployments", {}).items() if k != slot}
        deployments[slot] = new
        current["deployments"] = deployments
        return current

    record = registry.update(spec.endpoint, make_live)
    key = registry.read_key(spec.endpoint)
    if front_up:
        try:
            reply = request(f"http://127.0.0.1:{port}{RELOAD_PATH}", b"{}", key=key, timeout=30)
        except OSError as exc:
            raise DeploymentError(f"{spec.endpoint}: the front stopped answering during the "
                                  f"switch ({exc}); run the deploy again") from exc
        if reply.status != 200:
            raise DeploymentError(f"{spec.endpoint}: the front refused the switch: {reply.text}")
        say(f"{spec.endpoint}: traffic switched to {slot}")
    else:
        record = _start_front(registry, spec.endpoint, port, key)
    # Read again: the front may have restarted an old deployment (new pid) meanwhile.
    current = registry.read(spec.endpoint) or record
    old = {k: v for k, v in current.get("deployments", {}).items() if k != slot}
    for old_slot, dep in old.items():
        if front_up:
            _drain(port, dep, key, spec.endpoint)
        if processes.stop(dep.get("pid"), dep.get("pid_start")):
            say(f"{spec.endpoint}: stopped deployment {old_slot} (version "
                f"{dep.get('model_version')})")
        if dep.get("folder"):
            shutil.rmtree(dep["folder"], ignore_errors=True)

    def forget_old(current):
        current["deployments"] = {k: v for k, v in current["deployments"].items() if k == slot}
        return current

    return registry.update(spec.endpoint, forget_old)


def _drain(port: int, dep: dict, key: str, endpoint: str) -> None:
    """Wait until the front has no request in flight to the old deployment's port."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            status = request(f"http://127.0.0.1:{port}{STATUS_PATH}", key=key, timeout=10).json()
        except (OSError, ValueError):
            return
        if not status.get("inflight", {}).get(str(dep.get("port"))):
            return
        time.sleep(0.05)
    print(f"{endpoint}: requests to the old deployment still running after "
          f"{DRAIN_TIMEOUT_S:.0f} s; stopping it anyway", flush=True)


def _start_front(registry: EndpointRegistry, name: str, port: int | None, key: str) -> dict:
    sock = _bind_stable_port(name, port, registry.ports)
    try:
        port = sock.getsockname()[1]
        log = registry.endpoint_dir(name) / "front.log"
        proc = processes.spawn([sys.executable, "-m", "mlops.serving.front", "--registry",
                                str(registry.root), "--name", name, "--fd", str(sock.fileno())],
                               log, env=_full_env({}), pass_fds=(sock.fileno(),))
    finally:
        sock.close()  # the front holds its own copy
    started = processes.start_time(proc.pid)
    url = f"http://127.0.0.1:{port}{STATUS_PATH}"
    if not wait_until_up(url, 60, alive=lambda: proc.poll() is None, key=key):
        processes.stop(proc.pid, started)
        raise DeploymentError(f"{name}: the endpoint front did not start; log {log}:\n"
                              f"{processes.log_tail(log)}")

    def add_front(current):
        current.update(port=port, scoring_uri=scoring_uri(port), front_pid=proc.pid,
                       front_pid_start=started, front_log=str(log))
        return current

    return registry.update(name, add_front)


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


def endpoint_status(record: dict) -> str:
    """healthy | restarting | unhealthy | down (front not running) | stopped."""
    if not processes.is_alive(record.get("front_pid"), record.get("front_pid_start")):
        return "down"
    status = record.get("status", "healthy")
    live = record.get("deployments", {}).get(record.get("live"), {})
    if status == "healthy" and not processes.is_alive(live.get("pid"), live.get("pid_start")):
        return "restarting"  # the front notices within half a second
    return status


def undeploy(registry: EndpointRegistry, name: str) -> list[str]:
    """Stop the front and every deployment of an endpoint, remove its record, key and files."""
    with registry.deploy_lock(name):
        record = registry.read(name)
        if record is None:
            return []
        stopped = []
        if processes.stop(record.get("front_pid"), record.get("front_pid_start")):
            stopped.append(f"front pid {record['front_pid']}")
        for slot, dep in record.get("deployments", {}).items():
            if processes.stop(dep.get("pid"), dep.get("pid_start")):
                stopped.append(f"deployment {slot} pid {dep['pid']}")
        registry.remove(name)
        shutil.rmtree(registry.endpoint_dir(name), ignore_errors=True)
        detail = f" (stopped {', '.join(stopped)})" if stopped else " (no process was running)"
        return [f"online endpoint {name}{detail}"]


def invoke(registry: EndpointRegistry, name: str, body: bytes, timeout: float = 60) -> Reply:
    record = registry.read(name)
    if record is None:
        raise FactoryError(f"online endpoint {name!r} is not deployed; run `nox -s deploy`")
    try:
        return request(record["scoring_uri"], body, key=registry.read_key(name), timeout=timeout)
    except OSError as exc:
        raise FactoryError(f"{name}: cannot reach {record['scoring_uri']} ({exc}); status "
                           f"{endpoint_status(record)}; redeploy with `nox -s deploy`") from exc
