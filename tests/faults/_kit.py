"""Helpers of the fault suite: process status from /proc, raw sockets, waiting."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict (VmRSS, VmHWM, Threads...)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def kib(value: str) -> int:
    return int(value.split()[0])


def port_of(uri: str) -> int:
    return int(uri.split(":")[2].split("/")[0])


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes, return what comes back until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def wait_for(condition, timeout: float, step: float = 0.1):
    """condition()'s first truthy value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None
