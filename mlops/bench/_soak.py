"""The serving soak: a deployed online endpoint under mixed traffic for a while — valid,
invalid, oversized, slow and unauthenticated clients at once — with a blue/green redeploy and a
kill -9 of each endpoint process (front, keeper, deployment server, one gunicorn worker) along
the way. Reports requests sent, valid requests failed (target 0), the front's peak memory and
what the logs take on disk. Everything on 127.0.0.1.

A valid client retries a request once when its connection drops before any answer (the front
it was talking to was killed): what any HTTP client does for an idempotent request. Such
retries are counted and reported; a request that fails twice, or gets any answer but a 200
with one prediction per row, counts as failed."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mlops.bench import Section
from mlops.serving import online, processes, supervision
from mlops.serving.settings import EndpointLimits
from mlops.serving.signature_input import parse_request

VALID_CLIENTS = 3
SLOW_HOLD = 20  # connections a slow client keeps half-open at once
# Disruptions at these fractions of the run: what happens, and what comes back by itself.
PLAN = ((0.15, "redeploy"), (0.30, "front"), (0.45, "keeper"), (0.60, "deployment"),
        (0.75, "worker"))


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: Counter = Counter()
        self.unexpected: Counter = Counter()
        self.dropped: Counter = Counter()  # connection cut by a kill -9, no answer at all
        self.failures: list[str] = []
        self.retried = 0

    def count(self, kind: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.sent[kind] += 1
            if not ok:
                self.unexpected[kind] += 1
                if len(self.failures) < 20:
                    self.failures.append(f"{kind}: {detail}")

    def answered(self, kind: str, status: int, expected: int) -> None:
        """A hostile request: the expected refusal, or no answer because of a kill."""
        if status == 0:
            with self.lock:
                self.sent[kind] += 1
                self.dropped[kind] += 1
            return
        self.count(kind, status == expected, f"HTTP {status}, expected {expected}")


def soak(section: Section, registry, spec, seconds: float,
         say: Callable[[str], None] = print) -> None:
    name = spec.endpoint
    record = registry.read(name)
    key = registry.read_key(name)
    port = int(record.scoring_uri.split(":")[2].split("/")[0])
    body = spec.sample_request.read_bytes()
    rows = len(parse_request(body))
    limit = EndpointLimits.from_env(spec.environment).max_body_bytes
    tally, stop = _Tally(), threading.Event()
    say(f"soak: {seconds / 60:g} min of mixed traffic on port {port}")
    clients = [threading.Thread(target=_valid, args=(port, key, body, rows, tally, stop))
               for _ in range(VALID_CLIENTS)]
    clients += [threading.Thread(target=target, args=(port, key, tally, stop, *extra))
                for target, extra in ((_invalid, ()), (_oversized, (limit,)),
                                      (_unauthenticated, (body,)), (_slow, ()))]
    memory = _MemoryWatch(registry, name)
    threads = [*clients, threading.Thread(target=memory.run, args=(stop,))]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    recoveries: dict[str, float] = {}
    try:
        for fraction, action in PLAN:
            time.sleep(max(0.0, started + fraction * seconds - time.monotonic()))
            recoveries[action] = _disrupt(action, registry, spec, say)
        time.sleep(max(0.0, started + seconds - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(300)
    elapsed = time.monotonic() - started
    total = sum(tally.sent.values())
    section.add(f"soak: {elapsed / 60:.1f} min, requests sent ("
                + ", ".join(f"{k} {v:,}" for k, v in sorted(tally.sent.items())) + ")",
                total, "requests")
    section.add("soak: valid requests failed", tally.unexpected["valid"], "requests", "0",
                tally.unexpected["valid"] == 0)
    section.add("soak: valid requests retried once after their connection dropped",
                tally.retried, "requests")
    wrong = sum(v for k, v in tally.unexpected.items() if k != "valid")
    section.add("soak: invalid, oversized, slow or unauthenticated requests answered "
                "otherwise than 400/413/closed/401", wrong, "requests", "0", wrong == 0)
    section.add("soak: hostile requests left without an answer by a kill -9",
                sum(tally.dropped.values()), "requests")
    section.add("soak: front peak memory (VmHWM, any front process)", memory.peak_kib / 1024,
                "MB")
    logs = _logs(registry, name)
    section.add(f"soak: endpoint logs on disk after the run ({len(logs)} files)",
                sum(logs.values()) / 2**20, "MB")
    section.add("soak: largest log file", max(logs.values(), default=0) / 2**20, "MB",
                f"<= {EndpointLimits().log_max_bytes / 2**20:g} MB + one rotation interval")
    for action, recovered in recoveries.items():
        what = "redeploy" if action == "redeploy" else f"kill -9 {action}: back by itself in"
        section.add(f"soak: {what}", recovered, "s")
    if tally.failures:
        section.notes.append("Soak: unexpected answers (first ones): "
                             + "; ".join(tally.failures[:5]))


def _disrupt(action: str, registry, spec, say) -> float:
    """Do it; seconds until the endpoint is healthy again with a new process in place."""
    started = time.monotonic()
    record = registry.read(spec.endpoint)
    if action == "redeploy":
        online.deploy(registry, spec, force=True, say=lambda _: None)
        say(f"soak: redeployed in {time.monotonic() - started:.1f} s")
        return time.monotonic() - started
    if action == "worker":
        workers = processes.children(record.live_deployment.process.pid)
        victim = workers[0]
    elif action == "deployment":
        victim = record.live_deployment.process.pid
    else:
        victim = getattr(record, action).pid
    os.kill(victim, signal.SIGKILL)
    say(f"soak: kill -9 {action} pid {victim}")
    deadline = started + 300
    while time.monotonic() < deadline:
        current = registry.read(spec.endpoint)
        if action == "worker":
            back = len(processes.children(current.live_deployment.process.pid)) >= len(workers) \
                and victim not in processes.children(current.live_deployment.process.pid)
        else:
            ref = (current.live_deployment.process if action == "deployment"
                   else getattr(current, action))
            back = ref is not None and ref.pid != victim and supervision.alive(ref)
        if back and online.endpoint_status(current) == "healthy":
            break
        time.sleep(0.1)
    say(f"soak: {action} back after {time.monotonic() - started:.1f} s")
    return time.monotonic() - started


def _valid(port: int, key: str, body: bytes, rows: int, tally: _Tally,
           stop: threading.Event) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    conn = None
    while not stop.is_set():
        for attempt in (1, 2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
                conn.request("POST", "/score", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, OSError) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                if attempt == 1:
                    with tally.lock:
                        tally.retried += 1
                    continue
                tally.count("valid", False, f"{type(exc).__name__}: {exc}")
                break
            ok = response.status == 200 and len(json.loads(data).get("predictions", [])) == rows
            tally.count("valid", ok, f"HTTP {response.status}: {data[:200]!r}")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            break


INVALID = (b"{not json", b'{"rows": []}', b'{"input_data": [{"nope": 1}]}',
           b'{"input_data": [{"x": ' + b"9" * 400 + b"}]}",
           b"[" * 50_000 + b"]" * 50_000)


def _invalid(port: int, key: str, tally: _Tally, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        body = INVALID[n % len(INVALID)]
        n += 1
        tally.answered("invalid", _post(port, body, {"Authorization": f"Bearer {key}"}), 400)
        stop.wait(0.05)


def _unauthenticated(port: int, key: str, tally: _Tally, stop: threading.Event,
                     body: bytes) -> None:
    while not stop.is_set():
        tally.answered("unauthenticated", _post(port, body, {}), 401)
        stop.wait(0.05)


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
        conn.request("POST", "/score", body=body,
                     headers={"Content-Type": "application/json", **headers})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0


def _oversized(port: int, key: str, tally: _Tally, stop: threading.Event, limit: int) -> None:
    """Announce a body past the limit and start sending it: 413 before it is read."""
    while not stop.is_set():
        status = 0
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(f"POST /score HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"
                             f"Content-Type: application/json\r\nContent-Length: {limit * 4}"
                             f"\r\n\r\n".encode() + b"[" * 65536)
                head = sock.recv(64)
                status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
        except (OSError, ValueError, IndexError):
            pass
        tally.answered("oversized", status, 413)
        stop.wait(0.2)


def _slow(port: int, key: str, tally: _Tally, stop: threading.Event) -> None:
    """Keep SLOW_HOLD connections with a request head that never ends; each must be closed
    by the front (with 408 or without a word) when its time is up."""
    held: list[tuple[socket.socket, float]] = []
    while not stop.is_set():
        while len(held) < SLOW_HOLD:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"POST /score HTTP/1.1\r\nContent-Type: appl")
                sock.setblocking(False)
                held.append((sock, time.monotonic()))
            except OSError:
                break
        still = []
        for sock, since in held:
            try:
                data = sock.recv(4096)
                closed = data == b"" or data.startswith(b"HTTP/1.1 408")
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                sock.close()
                tally.count("slow", True)
            elif time.monotonic() - since > 120:  # never closed by the front
                sock.close()
                tally.count("slow", False)
            else:
                still.append((sock, since))
        held = still
        stop.wait(0.5)
    for sock, _ in held:
        sock.close()


class _MemoryWatch:
    """The peak resident memory of whichever front process serves the endpoint."""

    def __init__(self, registry, name: str):
        self.registry, self.name, self.peak_kib = registry, name, 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                front = self.registry.read(self.name).front
                for line in Path(f"/proc/{front.pid}/status").read_text().splitlines():
                    if line.startswith(("VmHWM:", "VmRSS:")):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except (OSError, AttributeError, ValueError):
                pass
            stop.wait(0.5)


def _logs(registry, name: str) -> dict[str, int]:
    folder = registry.endpoint_dir(name)
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*.log*")
            if p.is_file()}
