"""Stop every endpoint of a registry at once: what `nox -s destroy` does before the workspace
(with its registry) is archived and removed, so no front or deployment keeps answering with a
key nobody can manage any more, and no key ends up in the archive."""

from __future__ import annotations

import shutil

from mlops.serving import batch_endpoint, online, processes
from mlops.serving.registry import EndpointRegistry, RegistryError


def stop_all(registry: EndpointRegistry) -> list[str]:
    """Undeploy every endpoint (online: processes stopped, key and files removed; batch:
    deployment removed, job outputs kept), then stop any process still running from the
    registry's folders (an endpoint whose record was lost or unreadable). Says what went."""
    if not registry.root.is_dir():
        return []
    removed: list[str] = []
    for name in registry.names():
        try:
            record = registry.read(name)
        except RegistryError as exc:
            registry.record_path(name).unlink(missing_ok=True)
            registry.key_path(name).unlink(missing_ok=True)
            shutil.rmtree(registry.endpoint_dir(name) / "deployments", ignore_errors=True)
            removed.append(f"endpoint {name}: unreadable record removed ({exc})")
            continue
        if record is None:
            continue
        if record.kind == "batch":
            removed += batch_endpoint.undeploy(registry, name)
        else:
            removed += online.undeploy(registry, name)
    for pid, start in processes.processes_using(registry.root):
        if processes.stop(pid, start):
            removed.append(f"leftover endpoint process pid {pid}")
    for key in registry.root.glob("*.key"):
        key.unlink(missing_ok=True)
    return removed
