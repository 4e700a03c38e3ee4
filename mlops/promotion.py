"""Promotion between infrastructure environments, behind `nox -s promote -- MODEL --from dev
--to prod`: the approved version of the source environment, the exact artifact (digest-checked),
registered in the target with its lineage, made the target's champion and deployed there.
Never retrained.

Order matters for what a refusal leaves behind: the source is read (and the approval checked)
before the target is touched, so an unapproved version changes nothing in the target, not even
its provisioning. Each platform does the copy its own way (mlops.platform.*.promotion); the
target's endpoints are deployed through its platform facade, as `nox -s deploy` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops.config import DEPLOY_ENVIRONMENT, FactoryConfig
from mlops.errors import PromotionError
from mlops.records import EndpointInfo, Promotion


@dataclass(frozen=True)
class PromotionResult:
    promotion: Promotion
    endpoints: list[EndpointInfo]


def source_of(config: FactoryConfig, target_env: str) -> str:
    """The environment ``target_env`` receives models from (its PROMOTE_FROM)."""
    source = _infra(config, target_env, "--to").promote_from
    if source is None:
        raise PromotionError(f"config/infra_config.json: {target_env} has no PROMOTE_FROM: it "
                             "receives no promotions; name the environment it takes models "
                             "from there")
    return source


def _infra(config: FactoryConfig, env: str, option: str):
    try:
        return config.infra_env(env)
    except KeyError as exc:
        raise PromotionError(f"{option} {env}: {exc.args[0]}") from None


def check_route(config: FactoryConfig, source_env: str, target_env: str) -> None:
    """Promotions go where config/infra_config.json says: the target's PROMOTE_FROM."""
    _infra(config, source_env, "--from")
    if source_env == target_env:
        raise PromotionError(f"--from and --to are both {source_env}: a promotion moves a model "
                             "to another environment")
    expected = source_of(config, target_env)
    if expected != source_env:
        raise PromotionError(f"config/infra_config.json: {target_env} takes its models from "
                             f"{expected} (PROMOTE_FROM), not {source_env}; promote with "
                             f"--from {expected}")


def promote(config: FactoryConfig, model: str, *, source_env: str, target_env: str,
            target: str, promoted_by: str, build_id: str, version: str | None = None,
            now: datetime | None = None,
            say: Callable[[str], None] = print) -> PromotionResult:
    from mlops.infra import read_workspace
    from mlops.naming import run_names
    from mlops.platform import get_platform, platform_for

    check_route(config, source_env, target_env)
    entry = config.entry(model, DEPLOY_ENVIRONMENT)
    names = run_names(entry)
    source = platform_for(read_workspace(config, target, env=source_env))
    approved = source.approved(source_env, entry, names, version)
    say(f"{model}: {approved.model_name} version {approved.version} in {source_env} "
        f"({approved.workspace}) approved by {approved.approval.approved_by} at "
        f"{approved.approval.approved_at}; digest {approved.digest[:12]}")
    destination = get_platform(target, config, env=target_env)  # local: provisioned on demand
    promotion = Promotion(  # target_version: the platform's copy fills it in
        source=approved, target_env=target_env, target_workspace=destination.workspace.name,
        target_version="", promoted_by=promoted_by,
        promoted_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        promotion_build=build_id)
    done = source.promote(destination.workspace, entry, approved, promotion)
    say(f"{model}: {target_env} ({done.target_workspace}) registered {approved.model_name} "
        f"version {done.target_version}, the same files (digest {approved.digest[:12]}), as "
        f"its champion; deploying")
    endpoints = destination.deploy(entry, names)
    for info in endpoints:
        say(f"  {info.kind:<6} {info.name}: version {info.model_version}, {info.status}, "
            f"{info.scoring_uri}")
    return PromotionResult(done, endpoints)
