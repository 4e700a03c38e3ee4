"""The local endpoint registry: one JSON record per endpoint (written atomically, under a
lock), its key file (owner-only), and a folder for its deployments, logs and pid files.

Layout under ``workspace.endpoint_registry``::

    <name>.json            the record: name, kind, model, model_version, scoring_uri, port, pids...
    <name>.key             online endpoints: the bearer key, mode 0600, never printed unless asked
    <name>/                deployments/<deployment>/{code,model,server.log}, front.log, jobs/
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError

KEY_BYTES = 32
# The ports endpoint fronts bind when the workspace names none (its environment's range)
DEFAULT_PORTS = (20000, 27999)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class RegistryError(FactoryError):
    """A record or key file is unreadable or malformed."""


class EndpointRegistry:
    def __init__(self, root: Path, ports: tuple[int, int] | None = None):
        self.root = Path(root)
        # each infrastructure environment's fronts stay in its own range (LOCAL_ENDPOINT_PORTS)
        self.ports = tuple(ports) if ports else DEFAULT_PORTS

    # paths
    def record_path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def key_path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.key"

    def endpoint_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # keys live here

    # records
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if _NAME.match(p.stem))

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.record_path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise RegistryError(f"{path}: not valid JSON ({exc}); undeploy and deploy again") from None
        if not isinstance(record, dict) or record.get("name") != name:
            raise RegistryError(f"{path}: expected an endpoint record with name {name!r}")
        return record

    def write(self, name: str, record: dict[str, Any]) -> None:
        """Replace the record atomically: readers see the old or the new one, never half."""
        self.ensure_root()
        record = {**record, "name": name, "updated_at": time.time()}
        path = self.record_path(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def update(self, name: str,
               change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> dict | None:
        """Read-modify-write under the record lock; ``change`` returns the new record or None
        to delete it."""
        with self._lock(f".{name}.record.lock"):
            new = change(self.read(name))
            if new is None:
                self.record_path(name).unlink(missing_ok=True)
            else:
                self.write(name, new)
            return new

    def remove(self, name: str) -> None:
        self.update(name, lambda _: None)
        self.key_path(name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def deploy_lock(self, name: str) -> Iterator[None]:
        """Held for a whole deploy/undeploy of one endpoint: they never interleave."""
        with self._lock(f".{check_name(name)}.deploy.lock"):
            yield

    @contextlib.contextmanager
    def _lock(self, filename: str) -> Iterator[None]:
        self.ensure_root()
        fd = os.open(self.root / filename, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # keys
    def ensure_key(self, name: str) -> str:
        """The endpoint's key, created on first use with owner-only permissions."""
        path = self.key_path(name)
        if path.exists():
            return self.read_key(name)
        self.ensure_root()
        key = secrets.token_urlsafe(KEY_BYTES)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        os.replace(tmp, path)
        return key

    def read_key(self, name: str) -> str:
        path = self.key_path(name)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            raise RegistryError(f"{path}: no key for endpoint {name!r}; deploy it first") from None
        if mode & 0o077:
            raise RegistryError(f"{path}: permissions {mode:04o} let others read the key; "
                                f"expected 0600 (chmod 600 {path})")
        key = path.read_text().strip()
        if not key:
            raise RegistryError(f"{path}: empty key file; undeploy and deploy again")
        return key


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise RegistryError(f"endpoint name {name!r}: expected letters, digits, '-' or '_' "
                            f"(at most 63, starting with a letter or digit)")
    return name
