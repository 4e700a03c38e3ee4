"""Helpers of the fault suite: process status from /proc, raw sockets, waiting."""

from __future__ import annotations

import time
from pathlib import Path

from mlops.testkit import sockets


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
    """Send bytes to 127.0.0.1:port, return what comes back until the server closes or goes
    quiet."""
    return sockets.raw_exchange("127.0.0.1", port, data, timeout)


def wait_for(condition, timeout: float, step: float = 0.1):
    """condition()'s first truthy value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None
