"""The endpoint front in-process, in front of fake upstream servers on 127.0.0.1: key checks,
proxying, the blue/green switch, and holding requests while the upstream is away."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops.serving import front as front_module
from mlops.serving.client import request
from mlops.serving.front import RELOAD_PATH, STATUS_PATH, Front, Handler
from mlops.serving.processes import free_port, start_time
from mlops.serving.registry import EndpointRegistry


class _Upstream(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps({"predictions": [self.server.server_port]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return server


def _upstream(port=0):
    return _serve(ThreadingHTTPServer(("127.0.0.1", port), _Upstream))


def _deployment(port):
    return {"port": port, "pid": os.getpid(), "pid_start": start_time(os.getpid())}


@pytest.fixture
def setup(tmp_path):
    registry = EndpointRegistry(tmp_path)
    key = registry.ensure_key("ep")
    blue = _upstream()
    registry.write("ep", {"kind": "online", "live": "blue",
                          "deployments": {"blue": _deployment(blue.server_port)}})
    front = Front(registry, "ep")
    server = _serve(ThreadingHTTPServer(("127.0.0.1", 0),
                                        type("H", (Handler,), {"front": front})))
    url = f"http://127.0.0.1:{server.server_port}"
    yield registry, key, front, url, blue
    server.shutdown()
    blue.shutdown()


def test_key_is_required(setup):
    _, key, _, url, _ = setup
    assert request(f"{url}/score", b"{}").status == 401
    assert request(f"{url}/score", b"{}", key=key + "x").status == 401
    assert request(f"{url}/score", b"{}", headers={"Authorization": key}).status == 401
    assert request(f"{url}{STATUS_PATH}").status == 401
    assert request(f"{url}/other", b"{}", key=key).status == 404


def test_proxies_to_the_live_deployment(setup):
    _, key, _, url, blue = setup
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 200 and reply.json() == {"predictions": [blue.server_port]}


def test_reload_switches_upstream(setup):
    registry, key, _, url, blue = setup
    green = _upstream()
    try:
        registry.update("ep", lambda r: {**r, "live": "green", "deployments": {
            **r["deployments"], "green": _deployment(green.server_port)}})
        status = request(f"{url}{RELOAD_PATH}", b"{}", key=key).json()
        assert status["live"] == "green" and status["port"] == green.server_port
        assert request(f"{url}/score", b"{}", key=key).json()["predictions"] == [
            green.server_port]
    finally:
        green.shutdown()


def test_request_waits_while_the_upstream_is_away(setup, monkeypatch):
    registry, key, front, url, _ = setup
    port = free_port()  # nothing listens yet: connection refused
    registry.update("ep", lambda r: {**r, "deployments": {"blue": _deployment(port)}})
    front.reload()
    late: list = []
    timer = threading.Timer(1.0, lambda: late.append(_upstream(port)))
    timer.start()
    try:
        started = time.monotonic()
        reply = request(f"{url}/score", b"{}", key=key, timeout=30)
        assert reply.status == 200 and reply.json()["predictions"] == [port]
        assert time.monotonic() - started >= 0.9
    finally:
        timer.join()
        for server in late:
            server.shutdown()


def test_unhealthy_endpoint_answers_503(setup):
    _, key, front, url, _ = setup
    front.status = "unhealthy"
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 503 and "unhealthy" in reply.json()["message"]


def test_gives_up_after_the_wait_limit(setup, monkeypatch):
    registry, key, front, url, _ = setup
    monkeypatch.setattr(front_module, "UPSTREAM_WAIT_S", 0.3)
    registry.update("ep", lambda r: {**r, "deployments": {"blue": _deployment(free_port())}})
    front.reload()
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 503 and "not reachable" in reply.json()["message"]


def test_chunked_or_broken_lengths_are_refused(setup):
    _, key, _, url, _ = setup
    chunked = request(f"{url}/score", b"{}", key=key, headers={"Transfer-Encoding": "chunked"})
    assert chunked.status == 411
