"""Where infrastructure files live, all under the ignored .factory/ folder.

Each infrastructure environment has its own layout: synthesised stacks, saved plans, Terraform
state, locks and (locally) the workspace itself. The default environment (dev) keeps the
folders it always had, directly under .factory/; every other one lives under
.factory/envs/<env>/ with the same structure, so two environments never share a state file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlops.config.loader import DEFAULT_INFRA_ENV, selected_infra_env
from mlops.paths import local_state_file, state_dir
from mlops.terraform.runner import DEFAULT_LOCK_TIMEOUT

LOCK_TIMEOUT_ENV = "FACTORY_TF_LOCK_TIMEOUT"  # e.g. "60s", "0s"; Terraform's default otherwise


@dataclass(frozen=True)
class Layout:
    root: Path  # the environment's state root: .factory/ (dev) or .factory/envs/<env>/
    env: str = DEFAULT_INFRA_ENV

    @classmethod
    def of(cls, factory_root: Path | None = None, env: str | None = None) -> Layout:
        """The layout of ``env`` (default: the selected one, FACTORY_INFRA_ENV or dev)."""
        env = env or selected_infra_env()
        base = state_dir(factory_root)
        return cls(base if env == DEFAULT_INFRA_ENV else base / "envs" / env, env)

    @property
    def synth_dir(self) -> Path:
        return self.root / "cdktf.out"

    def stack_dir(self, stack: str) -> Path:
        return self.synth_dir / "stacks" / stack

    def synth_record(self, target: str) -> Path:
        return self.synth_dir / f"{target}.synth.json"

    def data_dir(self, stack: str) -> Path:
        """TF_DATA_DIR: providers and backend settings, outside the synth folder."""
        return self.root / "terraform" / stack

    @property
    def plans_dir(self) -> Path:
        return self.root / "plans"

    def plan_file(self, stack: str) -> Path:
        return self.plans_dir / f"{stack}.tfplan"

    def plan_record(self, target: str) -> Path:
        return self.plans_dir / f"{target}.json"

    def plan_markdown(self, target: str) -> Path:
        return self.plans_dir / f"{target}-plan.md"

    def local_state(self) -> Path:
        return local_state_file(self.root)

    def converged_record(self) -> Path:
        """What the local stack last converged to (lifecycle.provision_on_demand)."""
        return self.root / "terraform" / "local-converged.json"

    def lock_file(self, target: str) -> Path:
        return self.root / "locks" / f"{target}.lock"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"


def lock_timeout() -> str:
    value = os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT).strip()
    seconds(value)  # validate early
    return value


def seconds(duration: str) -> float:
    """'60s', '2m', '0s' or '45' -> seconds; anything else names the variable and the format."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = duration.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        from mlops.errors import FactoryError

        raise FactoryError(f"{LOCK_TIMEOUT_ENV}={duration!r}: expected a duration like 60s or 2m")\
            from None
