"""The endpoint front: a stable scoring URI on 127.0.0.1 for one online endpoint.

It checks ``Authorization: Bearer <key>`` (401 otherwise), proxies /score to the live
deployment recorded in the endpoint registry, and switches to a new deployment atomically
when the deployer calls /.factory/reload (blue/green). It also supervises the live
deployment: when its process dies, the front restarts it on the same port (status
"restarting"), holds incoming requests until it is healthy again, and reports "unhealthy"
(HTTP 503) if it cannot bring it back after MAX_RESTART_ATTEMPTS.

Run as ``python -m mlops.serving.front --registry DIR --name NAME --fd FD`` by the deployer,
which binds the listening socket and hands it over (no race for the stable port).
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlops.serving import processes
from mlops.serving.registry import EndpointRegistry

STATUS_PATH = "/.factory/status"
RELOAD_PATH = "/.factory/reload"
UPSTREAM_WAIT_S = 90.0  # how long a request waits for a deployment that is (re)starting
SCORING_TIMEOUT_S = 120.0
SUPERVISE_EVERY_S = 0.5
MAX_RESTART_ATTEMPTS = 3
READY_TIMEOUT_S = 180.0
_RETRYABLE = (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
              http.client.RemoteDisconnected)


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} front: {message}", file=sys.stderr, flush=True)


class Front:
    def __init__(self, registry: EndpointRegistry, name: str):
        self.registry, self.name = registry, name
        self.lock = threading.Lock()
        self.inflight: dict[int, int] = {}
        self.status = "healthy"
        self.restarts = 0
        self.children: list = []  # deployments this front restarted (it must reap them)
        self.stopping = threading.Event()
        self.reload()

    # state
    def reload(self) -> dict:
        record = self.registry.read(self.name)
        if record is None or not record.get("live"):
            raise RuntimeError(f"endpoint {self.name!r} has no record or no live deployment")
        key = self.registry.read_key(self.name)
        with self.lock:
            self.key = key
            self.live = record["live"]
            self.deployment = dict(record["deployments"][self.live])
            self.status = "healthy"
        log(f"upstream -> deployment {self.live} on port {self.deployment['port']}")
        return self.snapshot()

    def snapshot(self) -> dict:
        with self.lock:
            return {"endpoint": self.name, "live": self.live, "port": self.deployment["port"],
                    "pid": self.deployment.get("pid"), "status": self.status,
                    "restarts": self.restarts,
                    "inflight": {str(p): n for p, n in self.inflight.items() if n}}

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self.key.encode())

    # proxying
    def forward(self, method: str, body: bytes, headers: dict[str, str]):
        """(status, content type, body) from the live deployment; waits out restarts."""
        deadline = time.monotonic() + UPSTREAM_WAIT_S
        while True:
            with self.lock:
                status, port = self.status, self.deployment["port"]
                self.inflight[port] = self.inflight.get(port, 0) + 1
            try:
                if status == "unhealthy":
                    return _error(503, f"endpoint {self.name} is unhealthy: its deployment "
                                  "crashed and could not be restarted")
                if status == "healthy":
                    return _call(port, method, body, headers)
            except _RETRYABLE:
                pass  # switching or restarting: the request never reached a scorer, retry
            except TimeoutError:
                return _error(504, f"scoring took longer than {SCORING_TIMEOUT_S:.0f} s")
            finally:
                with self.lock:
                    self.inflight[port] -= 1
            if time.monotonic() > deadline:
                return _error(503, f"endpoint {self.name}: deployment not reachable for "
                                   f"{UPSTREAM_WAIT_S:.0f} s")
            time.sleep(0.05)

    # supervision
    def supervise(self) -> None:
        while not self.stopping.wait(SUPERVISE_EVERY_S):
            for child in list(self.children):
                if child.poll() is not None:
                    self.children.remove(child)
            with self.lock:
                dep, live, status = dict(self.deployment), self.live, self.status
            if status == "unhealthy" or processes.is_alive(dep.get("pid"), dep.get("pid_start")):
                continue
            self.restart(live, dep)

    def restart(self, live: str, dep: dict) -> None:
        log(f"deployment {live} (pid {dep.get('pid')}) is gone; restarting it on port "
            f"{dep['port']}")
        self._set_status("restarting")
        processes.kill_group(dep["pid"])  # orphaned server workers would hold the port
        for attempt in range(1, MAX_RESTART_ATTEMPTS + 1):
            with self.lock:
                if self.live != live:
                    return  # the deployer switched away meanwhile
            proc = processes.spawn(dep["command"], Path(dep["log"]), env=_env(dep),
                                   cwd=Path(dep["cwd"]))
            self.children.append(proc)
            started = processes.start_time(proc.pid)
            url = f"http://127.0.0.1:{dep['port']}/"
            ready = _wait_ready(url, proc)
            with self.lock:
                current = self.live == live
                if ready and current:
                    self.deployment.update(pid=proc.pid, pid_start=started)
                    self.restarts += 1
                    self.status = "healthy"
            if not current:  # switched away while restarting: nobody needs this process
                processes.stop(proc.pid, started, timeout=5)
                return
            if ready:
                self._record(live, pid=proc.pid, pid_start=started)
                log(f"deployment {live} restarted (pid {proc.pid}, attempt {attempt})")
                return
            log(f"restart attempt {attempt} failed; see {dep['log']}")
            processes.stop(proc.pid, started, timeout=5)
        self._set_status("unhealthy")
        log(f"deployment {live} could not be restarted; endpoint unhealthy")

    def _set_status(self, status: str) -> None:
        with self.lock:
            self.status = status

        def change(record):
            if record is not None:
                record["status"] = status
            return record

        self.registry.update(self.name, change)

    def _record(self, live: str, **fields) -> None:
        def change(record):
            if record is not None and live in record.get("deployments", {}):
                record["deployments"][live].update(fields)
                record["restarts"] = record.get("restarts", 0) + 1
                record["status"] = "healthy"
            return record

        self.registry.update(self.name, change)


def _env(dep: dict) -> dict[str, str]:
    import os

    return {**os.environ, **dep.get("env", {})}


def _wait_ready(url: str, proc) -> bool:
    from mlops.serving.client import wait_until_up

    return wait_until_up(url, READY_TIMEOUT_S, alive=lambda: proc.poll() is None)


def _call(port: int, method: str, body: bytes, headers: dict[str, str]):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SCORING_TIMEOUT_S)
    try:
        conn.request(method, "/score", body=body, headers=headers)
        response = conn.getresponse()
        return (response.status, response.getheader("Content-Type", "application/json"),
                response.read())
    finally:
        conn.close()


def _json(payload: dict) -> tuple[str, bytes]:
    return "application/json", json.dumps(payload).encode()


def _error(status: int, message: str) -> tuple[int, str, bytes]:
    return (status, *_json({"message": message}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients
    front: Front  # set on the subclass by serve()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return self._reply(411, *_json({"message": "send the body with Content-Length"}))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return self._reply(400, *_json({"message": "Content-Length is not a number"}))
        body = self.rfile.read(length) if length > 0 else b""
        path = self.path.split("?", 1)[0]
        if path not in ("/score", STATUS_PATH, RELOAD_PATH):
            return self._reply(404, *_json({"message": f"no route {path}; POST /score"}))
        if not self.front.authorized(self.headers.get("Authorization")):
            return self._reply(401, *_json({"message": "missing or wrong key: send header "
                                            "'Authorization: Bearer <endpoint key>'"}),
                               extra={"WWW-Authenticate": "Bearer"})
        if path == STATUS_PATH:
            return self._reply(200, *_json(self.front.snapshot()))
        if path == RELOAD_PATH and method == "POST":
            try:
                return self._reply(200, *_json(self.front.reload()))
            except Exception as exc:  # noqa: BLE001 - report to the deployer, keep serving
                return self._reply(500, *_json({"message": f"reload failed: {exc}"}))
        if path == RELOAD_PATH:
            return self._reply(405, *_json({"message": "POST only"}))
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        for name in ("x-request-id", "x-ms-client-request-id"):
            if self.headers.get(name):
                headers[name] = self.headers[name]
        status, content_type, data = self.front.forward(method, body, headers)
        self._reply(status, content_type, data)

    def _reply(self, status: int, content_type: str, data: bytes,
               extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # no access log: requests may carry data; errors are logged by the front


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(registry_root: Path, name: str, fd: int) -> None:
    front = Front(EndpointRegistry(registry_root), name)
    sock = socket.socket(fileno=fd)
    handler = type("BoundHandler", (Handler,), {"front": front})
    server = _Server(("127.0.0.1", sock.getsockname()[1]), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    threading.Thread(target=front.supervise, name="supervisor", daemon=True).start()
    log(f"serving endpoint {name} on http://127.0.0.1:{sock.getsockname()[1]}/score")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        front.stopping.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops.serving.front")
    parser.add_argument("--registry", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--fd", required=True, type=int)
    args = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(args.registry, args.name, args.fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
