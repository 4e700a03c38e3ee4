"""The endpoint front: a stable scoring URI on 127.0.0.1 for one online endpoint.

One asyncio process. Per request it checks ``Authorization: Bearer <key>`` from the headers
before reading any body (401), refuses bodies over the limit (413), non-JSON bodies (415),
chunked uploads (411) and methods a route does not take (405, JSON like every other answer),
then proxies /score to the live deployment with that deployment's token (the deployment
refuses requests without it) and answers with one write (no Nagle/delayed-ACK stall). Idle
keep-alive connections, slow heads and slow bodies time out; past max_connections the oldest
idle connection is closed. A disconnect is logged as one line.

Switching deployments (blue/green) is atomic: the deployer calls /.factory/reload, and the
front also reloads whenever the endpoint record changes. While the deployment restarts
(connection refused) a request is held up to UPSTREAM_WAIT_S; "unhealthy" answers 503. The
front restarts the endpoint's keeper if it dies, and the keeper restarts the front.

Run as ``python -m mlops.serving.front --registry DIR --name NAME --fd FD`` (the listening
socket is inherited, so there is no race for the stable port).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlops.records import ProcessRef
from mlops.serving import supervision
from mlops.serving.processes import start_time
from mlops.serving.registry import EndpointRegistry, RegistryError
from mlops.serving.settings import (
    RESPAWN_BACKOFF_MAX_S,
    SCORING_TIMEOUT_S,
    SUPERVISE_EVERY_S,
    TOKEN_HEADER,
    UPSTREAM_WAIT_S,
    EndpointLimits,
    LimitError,
)

STATUS_PATH = "/.factory/status"
RELOAD_PATH = "/.factory/reload"
SCORE_PATH = "/score"
ROUTES = {SCORE_PATH: ("GET", "POST"), STATUS_PATH: ("GET",), RELOAD_PATH: ("POST",)}
MAX_BUFFERED_BODIES = 64 * 1024 * 1024  # all request bodies held at once, whatever the clients
DEPLOYMENT_HEADER = "azureml-model-deployment"  # Azure ML names the deployment that answered
# Response headers of azmlinfsrv passed on to the client (request ids, scoring time).
_PASS_BACK = ("content-type", "x-request-id", "x-ms-request-id", "x-ms-client-request-id",
              "x-ms-run-fn-exec-ms", "x-ms-server-version")
_PASS_ON = ("x-request-id", "x-ms-client-request-id", "x-ms-request-id", "traceid")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            411: "Length Required", 413: "Content Too Large", 415: "Unsupported Media Type",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
MISSING_RECORD_LIMIT = 6
LINGER_S, LINGER_BYTES = 1.0, 1024 * 1024  # after an early answer (401, 413...): drain, then close


def log(message: str) -> None:
    supervision.log("front", message)


class _UpstreamGone(Exception):
    """The deployment closed or refused the connection before answering: try again."""


@dataclass(frozen=True)
class _Live:
    """What the front forwards to; replaced as a whole on reload."""

    slot: str
    port: int
    token: str
    key: str
    status: str
    limits: EndpointLimits


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


def _json_reply(status: int, message: str, close: bool = False, **extra) -> _Reply:
    return _Reply(status, json.dumps({"message": message}).encode(), close=close,
                  headers=[(k.replace("_", "-"), v) for k, v in extra.items()])


def _encode(reply: _Reply, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}",
             f"Content-Type: {reply.content_type}", f"Content-Length: {len(reply.body)}"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def _parse_head(head: bytes) -> _Request:
    """Request line and headers (names lower-cased); ValueError names what is malformed."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[1].startswith("/"):
        raise ValueError("malformed request line; expected 'METHOD /path HTTP/1.1'")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError("malformed header line")
        key = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        if key == "content-length" and key in headers and headers[key] != text:
            raise ValueError("conflicting Content-Length headers")
        headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" \
            else text
    return _Request(parts[0], parts[1], parts[2], headers)


class Front:
    def __init__(self, registry: EndpointRegistry, name: str):
        self.registry, self.name = registry, name
        self.live: _Live | None = None
        self.record_stamp: tuple[int, int] | None = None
        self.inflight: dict[int, int] = {}
        self.pool: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.connections: dict[asyncio.StreamWriter, list] = {}  # writer -> [idle?, since]
        self.buffered = 0
        self.restarts_seen = 0
        self.reaper = supervision.Reaper()
        self.keeper_backoff = supervision.Backoff(RESPAWN_BACKOFF_MAX_S)
        self.missing = 0
        self.stopping = False
        self.fd = -1
        self.me = ProcessRef(os.getpid(), start_time(os.getpid()))
        self.reload()

    # state
    def reload(self) -> dict:
        stamp = self._stamp()
        record = self.registry.read(self.name)
        if record is None or record.live_deployment is None:
            raise RuntimeError(f"endpoint {self.name!r} has no record or no live deployment")
        dep = record.live_deployment
        try:
            limits = EndpointLimits.from_env(dep.env)
        except LimitError as exc:
            log(f"{exc}; using the defaults")
            limits = EndpointLimits()
        token = self.registry.deployment_token(self.name, dep.folder)
        previous = self.live
        self.live = _Live(dep.slot, dep.port, token, self.registry.read_key(self.name),
                          record.status, limits)
        self.record_stamp = stamp
        self.restarts_seen = record.restarts
        if previous is None or (previous.slot, previous.port) != (dep.slot, dep.port):
            log(f"upstream -> deployment {dep.slot} on port {dep.port}")
            for port in list(self.pool):
                if port != dep.port:
                    self._drop_pool(port)
        return self.snapshot()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.registry.record_path(self.name).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def snapshot(self) -> dict:
        live = self.live
        return {"endpoint": self.name, "live": live.slot, "port": live.port,
                "status": live.status, "restarts": self.restarts_seen, "pid": os.getpid(),
                "connections": len(self.connections),
                "inflight": {str(p): n for p, n in self.inflight.items() if n},
                "limits": {f: getattr(live.limits, f) for f in EndpointLimits.ENV}}

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(),
                                   self.live.key.encode())

    # supervision (runs in a worker thread: locks and spawns never block serving; a reload,
    # which touches the connection pool, is left to the event loop: True asks for one)
    def supervise_once(self) -> bool:
        self.reaper.reap()
        try:
            record = self.registry.read(self.name)
        except (RegistryError, OSError) as exc:
            log(f"cannot read the record: {exc}")
            return False
        if record is None:
            self.missing += 1
            if self.missing >= MISSING_RECORD_LIMIT:
                log(f"endpoint {self.name} has no record any more; exiting")
                self.stopping = True
            return False
        self.missing = 0
        if record.status == "stopping":
            log(f"endpoint {self.name} is being stopped; exiting")
            self.stopping = True
            return False
        if not supervision.claim(self.registry, self.name, "front", self.me):
            log(f"another front serves endpoint {self.name}; exiting")
            self.stopping = True
            return False
        if not supervision.alive(record.keeper) and self.keeper_backoff.ready():
            proc = supervision.respawn(self.registry, self.name, "keeper", self.fd,
                                       record.keeper)
            if proc is not None:
                self.reaper.add(proc)
                self.keeper_backoff.started()
                gone = f"pid {record.keeper.pid} " if record.keeper else ""
                log(f"keeper {gone}is gone; started keeper pid {proc.pid}")
        elif supervision.alive(record.keeper):
            self.keeper_backoff.running()
        return self._stamp() != self.record_stamp

    # connections
    async def serve_client(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        host, port = (writer.get_extra_info("peername") or ("?", "?"))[:2]
        peer = f"{host}:{port}"
        state = [True, time.monotonic()]  # idle (waiting for a request head), since
        self._admit(writer, state)
        first, phase = True, None  # phase: what the client was doing (None: between requests)
        try:
            while not self.stopping:
                limits = self.live.limits
                state[0], state[1], phase = True, time.monotonic(), None
                timeout = limits.header_timeout_s if first else limits.idle_timeout_s
                try:
                    async with asyncio.timeout(timeout):  # no extra task per request
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    await self._close_with(writer, reader, _json_reply(
                        431, f"request head larger than {limits.max_header_bytes} bytes"))
                    return
                except TimeoutError:
                    if first:
                        log(f"client {peer} sent no complete request within {timeout:g} s; "
                            f"closed")
                    return  # an idle keep-alive connection simply ends
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        log(f"client {peer} disconnected in the middle of its request head")
                    return
                state[0], phase = False, "while sending its request"
                try:
                    request = _parse_head(head)
                except ValueError as exc:
                    await self._close_with(writer, reader, _json_reply(400, str(exc)))
                    return
                reply = await self.respond(request, reader, writer)
                phase = "before reading the reply"
                if reply.close:
                    await self._close_with(writer, reader, reply)
                    return
                keep = request.keep_alive and not self.stopping
                writer.write(_encode(reply, keep))
                async with asyncio.timeout(limits.body_timeout_s):
                    await writer.drain()
                if not keep:
                    return
                first = False
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError) as exc:
            if phase is not None:
                log(f"client {peer} disconnected {phase} ({type(exc).__name__})")
        finally:
            self.connections.pop(writer, None)
            writer.close()

    def _admit(self, writer: asyncio.StreamWriter, state: list) -> None:
        """Hold at most max_connections: past it, close the connection idle the longest."""
        self.connections[writer] = state
        if len(self.connections) <= self.live.limits.max_connections:
            return
        idle = [(s[1], id(w), w) for w, s in self.connections.items() if s[0] and w is not writer]
        if idle:
            oldest = min(idle)[2]
            self.connections.pop(oldest, None)
            oldest.transport.abort()

    async def _close_with(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                          reply: _Reply) -> None:
        """Answer, then close without reading the request body; what the client still sends
        is drained briefly so it can read the answer instead of a reset."""
        writer.write(_encode(reply, False))
        try:
            await asyncio.wait_for(writer.drain(), 5.0)
            if writer.can_write_eof():
                writer.write_eof()
            await asyncio.wait_for(_discard(reader, LINGER_BYTES), LINGER_S)
        except (TimeoutError, ConnectionError, OSError):
            pass

    # one request
    async def respond(self, request: _Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> _Reply:
        live, path, headers = self.live, request.path, request.headers
        has_body = headers.get("content-length", "0") not in ("", "0") or \
            "transfer-encoding" in headers
        if path not in ROUTES:
            return _json_reply(404, f"no route {path}; POST {SCORE_PATH}", close=has_body)
        if request.method not in ROUTES[path]:
            allowed = ", ".join(ROUTES[path])
            return _json_reply(405, f"{request.method} is not allowed on {path}; use "
                                    f"{allowed}", close=has_body, Allow=allowed)
        if not self.authorized(headers.get("authorization")):
            return _json_reply(401, "missing or wrong key: send header "
                                    "'Authorization: Bearer <endpoint key>'", close=has_body,
                               WWW_Authenticate="Bearer")
        if "transfer-encoding" in headers:
            return _json_reply(411, "send the body with Content-Length, not "
                                    "Transfer-Encoding", close=True)
        try:
            length = int(headers.get("content-length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            return _json_reply(400, "Content-Length is not a non-negative integer", close=True)
        if length > live.limits.max_body_bytes:
            return _json_reply(413, f"request body of {length} bytes is larger than the "
                                    f"endpoint's limit of {live.limits.max_body_bytes} bytes "
                                    f"({EndpointLimits.ENV['max_body_bytes']})", close=True)
        content_type = headers.get("content-type", "application/json")
        if length and path == SCORE_PATH and not _is_json(content_type):
            return _json_reply(415, f"Content-Type {content_type!r}: send the request as JSON "
                                    f"with 'Content-Type: application/json'", close=True)
        if self.buffered + length > MAX_BUFFERED_BODIES:
            return _json_reply(503, "the endpoint is busy reading other requests; retry",
                               close=True, Retry_After="1")
        self.buffered += length
        try:
            if length and "100-continue" in headers.get("expect", "").lower():
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                async with asyncio.timeout(live.limits.body_timeout_s):
                    body = await reader.readexactly(length) if length else b""
            except TimeoutError:
                return _json_reply(408, f"request body of {length} bytes not received within "
                                        f"{live.limits.body_timeout_s:g} s", close=True)
            if path == STATUS_PATH:
                return _Reply(200, json.dumps(self.snapshot()).encode())
            if path == RELOAD_PATH:
                try:
                    return _Reply(200, json.dumps(self.reload()).encode())
                except (RuntimeError, RegistryError, OSError) as exc:
                    return _json_reply(500, f"reload failed: {exc}")
            return await self.forward(request, body)
        finally:
            self.buffered -= length

    async def forward(self, request: _Request, body: bytes) -> _Reply:
        """The live deployment's answer; waits out restarts and switches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + UPSTREAM_WAIT_S
        while True:
            live = self.live
            if live.status == "unhealthy":
                return _json_reply(503, f"endpoint {self.name} is unhealthy: its deployment "
                                        "crashed and could not be restarted; redeploy it")
            self.inflight[live.port] = self.inflight.get(live.port, 0) + 1
            try:
                async with asyncio.timeout(SCORING_TIMEOUT_S):
                    reply = await self._call(live, request, body)
                reply.headers.append((DEPLOYMENT_HEADER, live.slot))
                return reply
            except (_UpstreamGone, ConnectionError, asyncio.IncompleteReadError, OSError):
                pass  # restarting or switching: the deployment did not answer; try again
            except TimeoutError:
                return _json_reply(504, f"scoring took longer than {SCORING_TIMEOUT_S:.0f} s")
            finally:
                self.inflight[live.port] -= 1
            if loop.time() > deadline:
                return _json_reply(503, f"endpoint {self.name}: deployment not reachable for "
                                        f"{UPSTREAM_WAIT_S:.0f} s")
            await asyncio.sleep(0.05)

    async def _call(self, live: _Live, request: _Request, body: bytes) -> _Reply:
        reader, writer = await self._connection(live.port)
        reused = True
        try:
            lines = [f"{request.method} {request.target} HTTP/1.1",
                     f"Host: 127.0.0.1:{live.port}", f"{TOKEN_HEADER}: {live.token}",
                     "Content-Type: application/json", f"Content-Length: {len(body)}"]
            lines += [f"{name}: {request.headers[name]}" for name in _PASS_ON
                      if name in request.headers]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _UpstreamGone from None
                raise
            status, headers = _parse_response_head(head)
            data = await _read_body(reader, headers)
            reused = "close" not in headers.get("connection", "").lower()
            passed = [(name, headers[name]) for name in _PASS_BACK[1:] if name in headers]
            return _Reply(status, data, headers.get("content-type", "application/json"),
                          passed)
        except BaseException:
            reused = False
            raise
        finally:
            if reused and live.port == self.live.port:
                self.pool.setdefault(live.port, []).append((reader, writer))
            else:
                writer.close()

    async def _connection(self, port: int):
        idle = self.pool.get(port)
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            raise _UpstreamGone(str(exc)) from None

    def _drop_pool(self, port: int) -> None:
        for _, writer in self.pool.pop(port, []):
            writer.close()


async def _discard(reader: asyncio.StreamReader, limit: int) -> None:
    while limit > 0:
        chunk = await reader.read(min(limit, 65536))
        if not chunk:
            return
        limit -= len(chunk)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.strip().decode("latin-1")
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from azmlinfsrv
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read()  # until the deployment closes


def _raise_fd_limit() -> None:
    """Every held connection is a descriptor: use what the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                    else max(soft, 65536), hard))


async def run(front: Front, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve on the listening socket until stop is set or the endpoint is being stopped;
    look at the record and the keeper every SUPERVISE_EVERY_S meanwhile."""
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(front.serve_client, sock=sock,
                                        limit=front.live.limits.max_header_bytes)
    log(f"serving endpoint {front.name} on http://127.0.0.1:{sock.getsockname()[1]}/score")
    while not stop.is_set() and not front.stopping:
        try:
            await asyncio.wait_for(stop.wait(), SUPERVISE_EVERY_S)
        except TimeoutError:
            if await loop.run_in_executor(None, front.supervise_once):
                try:
                    front.reload()
                except (RuntimeError, RegistryError, OSError) as exc:
                    log(f"reload failed: {exc}")
    server.close()


def serve(registry_root: Path, name: str, fd: int) -> None:
    _raise_fd_limit()
    front = Front(EndpointRegistry(registry_root), name)
    front.fd = fd
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run(front, sock, stop)

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    serve(*supervision.parse_role_arguments("front", argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
