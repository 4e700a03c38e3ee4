"""The endpoint front in-process (its asyncio loop on a thread), in front of fake upstream
servers on 127.0.0.1: key checks before the body, the deployment token, proxying, the
blue/green switch, holding requests while the upstream is away, JSON errors for every refusal."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops.records import EndpointRecord, OnlineDeployment, ProcessRef
from mlops.serving import front as front_module
from mlops.serving.client import request
from mlops.serving.front import RELOAD_PATH, STATUS_PATH, Front
from mlops.serving.processes import free_port, start_time
from mlops.serving.registry import EndpointRegistry
from mlops.serving.settings import TOKEN_HEADER
from mlops.testkit.sockets import raw_exchange

NAME = "ep-front"


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.tokens.append(self.headers.get(TOKEN_HEADER))
        data = json.dumps({"predictions": [self.server.server_port]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-run-fn-exec-ms", "1.000")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _upstream(port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), _Upstream)
    server.tokens = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server


def _me() -> ProcessRef:
    return ProcessRef(os.getpid(), start_time(os.getpid()))  # alive: nothing gets restarted


def _deployment(slot: str, port: int, env: dict | None = None) -> OnlineDeployment:
    return OnlineDeployment(slot=slot, port=port, folder=f"/deployments/{slot}-{port}",
                            model_version="1", command=(), cwd="/", log="/dev/null",
                            env=env or {}, process=_me())


class RunningFront:
    """Front.run on its own event loop thread, serving a socket on a free port."""

    def __init__(self, front: Front):
        self.front = front
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(front_module.run(front, self.sock, self.stop),),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def setup(tmp_path):
    registry = EndpointRegistry(tmp_path)
    key = registry.ensure_key(NAME)
    blue = _upstream()
    registry.write(EndpointRecord(name=NAME, kind="online", model="m", model_name="m",
                                  model_version="1", status="healthy", live="blue",
                                  deployments={"blue": _deployment("blue", blue.server_port)},
                                  front=_me(), keeper=_me()))
    running = RunningFront(Front(registry, NAME))
    yield registry, key, running.front, running.url, blue
    running.close()
    blue.shutdown()


def _raw(url: str, data: bytes, read_timeout: float = 10) -> bytes:
    """Send raw bytes, return everything the front answers until it closes or goes quiet."""
    host, port = url.removeprefix("http://").split(":")
    return raw_exchange(host, int(port), data, read_timeout)


def test_key_is_required(setup):
    _, key, _, url, blue = setup
    for reply in (request(f"{url}/score", b"{}"), request(f"{url}/score", b"{}", key=key + "x"),
                  request(f"{url}/score", b"{}", headers={"Authorization": key}),
                  request(f"{url}{STATUS_PATH}")):
        assert reply.status == 401 and "Authorization: Bearer" in reply.json()["message"]
    assert request(f"{url}/other", b"{}", key=key).status == 404
    assert blue.tokens == []  # nothing unauthenticated reached the deployment


def test_proxies_with_the_deployment_token_and_names_the_deployment(setup):
    registry, key, _, url, blue = setup
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 200 and reply.json() == {"predictions": [blue.server_port]}
    assert blue.tokens == [registry.deployment_token(NAME, f"/deployments/blue-{blue.server_port}")]
    head = _raw(url, b"POST /score HTTP/1.1\r\nAuthorization: Bearer " + key.encode()
                + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert b"azureml-model-deployment: blue" in head and b"x-ms-run-fn-exec-ms: 1.000" in head


def test_reload_switches_upstream(setup):
    registry, key, _, url, _ = setup
    green = _upstream()
    try:
        registry.update(NAME, lambda r: replace(r, live="green", deployments={
            **r.deployments, "green": _deployment("green", green.server_port)}))
        status = request(f"{url}{RELOAD_PATH}", b"{}", key=key).json()
        assert status["live"] == "green" and status["port"] == green.server_port
        assert request(f"{url}/score", b"{}", key=key).json()["predictions"] == [
            green.server_port]
    finally:
        green.shutdown()


def test_a_changed_record_is_picked_up_without_a_reload_call(setup):
    registry, key, _, url, _ = setup
    green = _upstream()
    try:
        registry.update(NAME, lambda r: replace(r, live="green", deployments={
            "green": _deployment("green", green.server_port)}))
        deadline = time.monotonic() + 10
        while request(f"{url}/score", b"{}", key=key).json()["predictions"] != [
                green.server_port]:
            assert time.monotonic() < deadline, "the front never followed the record"
            time.sleep(0.1)
    finally:
        green.shutdown()


def test_request_waits_while_the_upstream_is_away(setup):
    registry, key, front, url, _ = setup
    port = free_port()  # nothing listens yet: connection refused
    registry.update(NAME, lambda r: replace(r, deployments={"blue": _deployment("blue", port)}))
    request(f"{url}{RELOAD_PATH}", b"{}", key=key)
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
    registry, key, _, url, _ = setup
    registry.update(NAME, lambda r: replace(r, status="unhealthy"))
    request(f"{url}{RELOAD_PATH}", b"{}", key=key)
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 503 and "unhealthy" in reply.json()["message"]


def test_gives_up_after_the_wait_limit(setup, monkeypatch):
    registry, key, _, url, _ = setup
    monkeypatch.setattr(front_module, "UPSTREAM_WAIT_S", 0.3)
    registry.update(NAME, lambda r: replace(r, deployments={
        "blue": _deployment("blue", free_port())}))
    request(f"{url}{RELOAD_PATH}", b"{}", key=key)
    reply = request(f"{url}/score", b"{}", key=key)
    assert reply.status == 503 and "not reachable" in reply.json()["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/score", "GET, POST"), ("DELETE", "/score", "GET, POST"),
    ("OPTIONS", "/score", "GET, POST"), ("PATCH", STATUS_PATH, "GET"),
    ("GET", RELOAD_PATH, "POST")])
def test_other_methods_get_a_json_405(setup, method, path, allowed):
    _, key, _, url, _ = setup
    reply = request(f"{url}{path}", key=key, method=method)
    assert reply.status == 405
    assert reply.json()["message"] == f"{method} is not allowed on {path}; use {allowed}"


def test_refusals_are_json_and_name_the_header(setup):
    _, key, _, url, _ = setup
    auth = f"Authorization: Bearer {key}\r\n".encode()
    chunked = _raw(url, b"POST /score HTTP/1.1\r\n" + auth
                   + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411") and b"Content-Length" in chunked
    form = request(f"{url}/score", b"a=1&b=2", key=key,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 415 and "application/x-www-form-urlencoded" in form.json()["message"]
    broken = _raw(url, b"POST /score HTTP/1.1\r\n" + auth + b"Content-Length: ten\r\n\r\n")
    assert broken.startswith(b"HTTP/1.1 400") and b"Content-Length" in broken
    garbage = _raw(url, b"HELLO\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400") and b"request line" in garbage


def test_expect_100_continue_is_answered_before_the_body(setup):
    _, key, _, url, blue = setup
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /score HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"
                     f"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"{}")
        assert b"HTTP/1.1 200" in sock.recv(65536)
