"""Lineage of a served or registered model across infrastructure environments, behind
`nox -s lineage -- MODEL [--env ENV] [--version N] [--json]`.

In each environment (promotion order: an environment before those that take models from it):
data assets and versions -> pipeline run and its steps -> gate decision with both metrics ->
model version and digest -> approval -> promotions -> endpoints serving it. Without --version
each environment shows its champion; with --version N (and no --env) the first environment
shows version N and every later one the version promoted from the one before. Reading never
provisions: an environment that is not provisioned says so.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from mlops.config import DEPLOY_ENVIRONMENT, FactoryConfig
from mlops.errors import FactoryError
from mlops.records import SCHEMA_VERSION, EndpointInfo, Promotion, VersionLineage


@dataclass(frozen=True)
class EnvironmentLineage:
    env: str
    workspace: str | None
    lineage: VersionLineage | None
    note: str = ""  # why there is no lineage (not provisioned, nothing registered...)


def promotion_order(config: FactoryConfig) -> list[str]:
    """Environments, each after the one it takes models from (PROMOTE_FROM)."""
    def depth(env: str) -> int:
        source = config.infra[env].promote_from
        return 0 if source is None else 1 + depth(source)

    return sorted(config.infra, key=lambda env: (depth(env), env))


def _serving(endpoints: list[EndpointInfo], found: VersionLineage) -> tuple[EndpointInfo, ...]:
    return tuple(e for e in endpoints if str(e.model_version) == found.version
                 and e.extra.get("model_name", found.model_name) == found.model_name)


def collect(config: FactoryConfig, model: str, target: str, *, env: str | None = None,
            version: str | None = None) -> list[EnvironmentLineage]:
    from mlops.errors import WorkspaceNotProvisioned
    from mlops.infra import read_workspace
    from mlops.naming import run_names
    from mlops.platform import platform_for

    entry = config.entry(model, DEPLOY_ENVIRONMENT)
    names = run_names(entry)
    envs = [env] if env else promotion_order(config)
    platforms, found = {}, []
    for name in envs:
        try:
            platforms[name] = platform_for(read_workspace(config, target, env=name))
        except WorkspaceNotProvisioned:
            found.append(EnvironmentLineage(name, None, None, "not provisioned"))
    shown: dict[str, VersionLineage] = {}
    for item in envs:
        platform = platforms.get(item)
        if platform is None:
            continue
        wanted = _version_in(item, config, env, version, shown, platform, names.model_name)
        if isinstance(wanted, EnvironmentLineage):
            found.append(dataclasses.replace(wanted, workspace=platform.workspace.name))
            continue
        try:
            lineage = platform.lineage(item, entry, names, wanted)
        except FactoryError as exc:
            found.append(EnvironmentLineage(item, platform.workspace.name, None, str(exc)))
            continue
        lineage = dataclasses.replace(lineage, endpoints=_serving(platform.endpoints(), lineage))
        shown[item] = lineage
        found.append(EnvironmentLineage(item, platform.workspace.name, lineage))
    promotions = [p for platform in platforms.values()
                  for p in platform.promotions(names.model_name)]
    result = []
    for item in found:
        if item.lineage is not None:
            onward = tuple(p for p in promotions if (p.source.env, p.source.version) ==
                           (item.env, item.lineage.version))
            item = dataclasses.replace(item, lineage=dataclasses.replace(
                item.lineage, promoted_to=onward))
        result.append(item)
    order = {name: index for index, name in enumerate(envs)}
    return sorted(result, key=lambda item: order[item.env])


def _version_in(item: str, config: FactoryConfig, env: str | None, version: str | None,
                shown: dict[str, VersionLineage], platform, model_name: str):
    """The version to show in environment ``item``, or an EnvironmentLineage saying why none."""
    if version is None or env is not None:
        return version
    source = config.infra[item].promote_from
    if source is None:
        return version
    before = shown.get(source)
    if before is None:
        return EnvironmentLineage(item, None, None, f"nothing to follow from {source}")
    for promotion in platform.promotions(model_name):
        if (promotion.source.env, promotion.source.version) == (source, before.version):
            return promotion.target_version
    return EnvironmentLineage(item, None, None, f"{model_name} version {before.version} of "
                                                f"{source} was not promoted here")


# -- output ------------------------------------------------------------------------------------
def to_json(model: str, target: str, found: list[EnvironmentLineage]) -> str:
    return json.dumps({"model": model, "target": target, "schema_version": SCHEMA_VERSION,
                       "environments": [dataclasses.asdict(item) for item in found]},
                      indent=2, default=str)


def _short(value: str | None, length: int = 12) -> str:
    return value[:length] if value else "unknown"


def _promotion_line(p: Promotion, direction: str) -> str:
    where = (f"from {p.source.env} ({p.source.workspace}) version {p.source.version}"
             if direction == "from" else f"to {p.target_env} ({p.target_workspace}) version "
                                         f"{p.target_version}")
    return (f"{where}, by {p.promoted_by} at {p.promoted_at}, build {p.promotion_build}"
            + (f", served from registry {p.registry_model}" if p.registry_model else ""))


def _lines(item: EnvironmentLineage) -> list[str]:
    from mlops.cicd.gate import decision_line

    head = f"{item.env} · workspace {item.workspace or '-'}"
    found = item.lineage
    if found is None:
        return [f"{head}: {item.note}"]
    role = " (champion)" if found.champion else ""
    lines = [f"{head} · {found.model_name} version {found.version}{role}"]

    def row(label: str, text: str) -> None:
        lines.append(f"  {label:<11} {text}")

    if found.promoted_from:
        origin = found.promoted_from.source
        same = "same" if found.digest == origin.digest else "DIFFERENT"
        row("promoted", f"{_promotion_line(found.promoted_from, 'from')}; digest {same} as "
                        f"there")
    row("data", ", ".join(found.data) or "unknown")
    if found.run_id:
        run = f"{found.run_id}" + (f" {found.run_name}" if found.run_name else "")
        if found.experiment:
            run += f" (experiment {found.experiment})"
        row("run", run)
    row("build", f"{found.build_id or 'unknown'}, branch {found.branch or 'unknown'}, commit "
                 f"{_short(found.git_commit)}")
    if found.steps:
        row("steps", " · ".join(f"{s.name} {s.status}" for s in found.steps))
    if found.gate:
        row("gate", decision_line(found.gate))
    elif found.promoted_from:
        row("gate", f"decided in {found.promoted_from.source.env} (see there)")
    row("model", f"version {found.version}, digest {found.digest or 'unknown'}")
    approval = found.approval or (found.promoted_from.source.approval if found.promoted_from
                                  else None)
    row("approval", f"{approval.stage}: by {approval.approved_by}, build "
                    f"{approval.approved_build}, at {approval.approved_at}" if approval
        else "not approved")
    row("promotions", "; ".join(_promotion_line(p, "to") for p in found.promoted_to) or "none")
    row("endpoints", "; ".join(f"{e.kind} {e.name} {e.scoring_uri or '-'} ({e.status})"
                               for e in found.endpoints) or "none serving this version")
    return lines


def to_text(model: str, target: str, found: list[EnvironmentLineage]) -> str:
    blocks = [f"{model} · lineage ({target})"]
    blocks += ["\n".join(_lines(item)) for item in found]
    return "\n\n".join(blocks) + "\n"
