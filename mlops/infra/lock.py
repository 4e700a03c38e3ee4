"""One infrastructure run per target at a time: an flock around plan/apply/destroy, so two
concurrent `nox -s provision` serialise (the second waits, then finds nothing to do) instead of
racing over the saved plan. Terraform's own state lock still guards the state itself."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from mlops.errors import FactoryError


class InfraLockTimeout(FactoryError):
    """Another infrastructure run held the lock for longer than the lock timeout."""


@contextlib.contextmanager
def infra_lock(path: Path, what: str, timeout_s: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise InfraLockTimeout(
                        f"another infrastructure run ({holder}) holds {path}; waited "
                        f"{timeout_s:g} s. Retry when it has finished (or raise "
                        f"FACTORY_TF_LOCK_TIMEOUT).") from None
                if not announced:
                    print(f"waiting for another infrastructure run ({holder}) to finish ...",
                          flush=True)
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown process"
    except OSError:
        return "unknown process"
