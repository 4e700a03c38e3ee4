"""A small HTTP client for 127.0.0.1 endpoints (stdlib http.client: no extra dependency)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(url: str, body: bytes | None = None, *, key: str | None = None,
            method: str | None = None, timeout: float = 30.0,
            headers: dict[str, str] | None = None) -> Reply:
    """One request on a fresh connection. Connection errors propagate (OSError)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        conn.request(method or ("POST" if body is not None else "GET"),
                     parts.path or "/", body=body, headers=all_headers)
        response = conn.getresponse()
        return Reply(response.status, response.read())
    finally:
        conn.close()


def wait_until_up(url: str, timeout: float, *, alive=lambda: True, key: str | None = None,
                  headers: dict[str, str] | None = None) -> bool:
    """Poll url until it answers 200, the deadline passes, or ``alive()`` says the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            if request(url, key=key, timeout=5, headers=headers).status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
