"""A Terraform runner bound to one synthesised stack, initialised only when needed: init runs
when the stack's backend / provider / module settings differ from the last successful init."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from mlops._environment import tool_environment
from mlops.infra.credentials import terraform_env
from mlops.infra.layout import Layout, lock_timeout
from mlops.terraform import Terraform

INIT_STAMP = "factory-init.json"


def terraform_for(stack: str, layout: Layout, **kwargs) -> Terraform:
    layout.data_dir(stack).mkdir(parents=True, exist_ok=True)
    env = tool_environment()
    if stack != "local":  # the Azure stacks: the CI system's federated identity, if any
        env = terraform_env(env)
    return Terraform(layout.stack_dir(stack), env=env,
                     data_dir=layout.data_dir(stack), lock_timeout=lock_timeout(), **kwargs)


def _init_fingerprint(stack_json: Path, backend_config: Sequence[str | Path]) -> str:
    doc = json.loads(stack_json.read_text())
    relevant = {"terraform": doc.get("terraform", {}),
                "modules": {k: v.get("source") for k, v in doc.get("module", {}).items()},
                "backend_config": [str(b) for b in backend_config]}
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
    for item in backend_config:
        path = Path(item)
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def needs_init(stack: str, layout: Layout, backend_config: Sequence[str | Path] = ()) -> bool:
    stamp = layout.data_dir(stack) / INIT_STAMP
    fingerprint = _init_fingerprint(layout.stack_dir(stack) / "cdk.tf.json", backend_config)
    try:
        return json.loads(stamp.read_text())["fingerprint"] != fingerprint
    except (OSError, ValueError, KeyError):
        return True


def ensure_init(tf: Terraform, stack: str, layout: Layout, *,
                backend_config: Sequence[str | Path] = (), timeout: float | None = None,
                hint: str = "") -> bool:
    """Init when needed; True when init ran."""
    if not needs_init(stack, layout, backend_config):
        return False
    stamp = layout.data_dir(stack) / INIT_STAMP
    fingerprint = _init_fingerprint(layout.stack_dir(stack) / "cdk.tf.json", backend_config)
    stamp.unlink(missing_ok=True)
    version = tf.check_version()  # once per init, not on every (no-op) run
    tf.init(backend_config, reconfigure=True, timeout=timeout, hint=hint)
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "terraform": version}))
    return True
