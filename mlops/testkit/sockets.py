"""Raw-socket exchanges for tests that speak HTTP by hand (hostile requests, slow clients)."""

from __future__ import annotations

import socket


def read_all(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes, resets or goes quiet (the socket's timeout)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes, return what comes back until the server closes or goes quiet."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)
