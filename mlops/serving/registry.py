"""The local endpoint registry: one JSON record per endpoint (an EndpointRecord, written
atomically under a lock), its key file (owner-only), and a folder for its deployments, logs and
batch jobs.

Layout under ``workspace.endpoint_registry``::

    <name>.json            the record (mlops.records.EndpointRecord, schema-versioned)
    <name>.key             online endpoints: the bearer key, mode 0600, never printed unless asked
    <name>/                deployments/<deployment>/{code,model,server.log}, front.log, jobs/
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from mlops.config.loader import AZURE_ML_ENDPOINT, AZURE_ML_ENDPOINT_TEXT
from mlops.errors import FactoryError
from mlops.records import EndpointRecord, RecordError
from mlops.serving.settings import DEPLOY_LOCK_TIMEOUT_S, RECORD_LOCK_TIMEOUT_S

KEY_BYTES = 32
# Endpoint names follow Azure ML's rule (config/loader.py): the same names work on both targets.
_NAME = re.compile(rf"^{AZURE_ML_ENDPOINT}$")
# The ports endpoint fronts bind when the workspace names none (its environment's range)
DEFAULT_PORTS = (20000, 27999)


class RegistryError(FactoryError):
    """A record or key file is unreadable or malformed, or a lock is held too long."""


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

    def read(self, name: str) -> EndpointRecord | None:
        path = self.record_path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RegistryError(f"{path}: not valid JSON ({exc}); undeploy and deploy again") from None
        try:
            record = EndpointRecord.from_dict(data, str(path))
        except RecordError as exc:
            raise RegistryError(f"{exc}; undeploy and deploy again") from None
        if record.name != name:
            raise RegistryError(f"{path}: expected an endpoint record with name {name!r}, "
                                f"found {record.name!r}")
        return record

    def write(self, record: EndpointRecord) -> EndpointRecord:
        """Replace the record atomically: readers see the old or the new one, never half."""
        self.ensure_root()
        record = replace(record, updated_at=time.time())
        path = self.record_path(record.name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return record

    def update(self, name: str, change: Callable[[EndpointRecord | None],
                                                 EndpointRecord | None]) -> EndpointRecord | None:
        """Read-modify-write under the record lock; ``change`` returns the new record (None
        deletes it; the same object leaves the file untouched)."""
        with self._lock(f".{check_name(name)}.record.lock", RECORD_LOCK_TIMEOUT_S, "record"):
            old = self.read(name)
            new = change(old)
            if new is None:
                self.record_path(name).unlink(missing_ok=True)
            elif new is not old:
                if new.name != name:
                    raise RegistryError(f"record for {name!r} renamed to {new.name!r}")
                new = self.write(new)
            return new

    def remove(self, name: str) -> None:
        self.update(name, lambda _: None)
        self.key_path(name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def deploy_lock(self, name: str) -> Iterator[None]:
        """Held for a whole deploy/undeploy of one endpoint: they never interleave."""
        with self._lock(f".{check_name(name)}.deploy.lock", DEPLOY_LOCK_TIMEOUT_S, "deploy"):
            yield

    @contextlib.contextmanager
    def _lock(self, filename: str, timeout: float, what: str) -> Iterator[None]:
        self.ensure_root()
        path = self.root / filename
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        holder = path.read_text(errors="replace").strip() or "unknown"
                        raise RegistryError(f"{path}: the {what} lock is still held after "
                                            f"{timeout:.0f} s by {holder}") from None
                    time.sleep(0.01)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
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

    def deployment_token(self, name: str, folder: str) -> str:
        """The secret a deployment wants from its front: derived from the endpoint key and the
        deployment's folder, so it is never stored and changes with every deployment."""
        key = self.read_key(name).encode()
        return hmac.new(key, f"deployment:{folder}".encode(), hashlib.sha256).hexdigest()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(f"endpoint name {name!r}: expected {AZURE_ML_ENDPOINT_TEXT}")
    return name
