"""plan / apply / provision / destroy over the synthesised stacks of a target.

A plan is saved per stack under .factory/plans/ with a record of what it was made from (input
hash, local state lineage + serial, plan file hash). `apply` applies only such a saved plan and
refuses a missing or stale one; `provision` reuses a fresh saved plan (the one `nox -s plan` just
made) or makes one, and applies only when it has changes — the no-op path runs one `terraform
plan` and nothing else. Model sessions on local call `provision_on_demand`, which skips even
that plan while nothing it would look at has changed since the last provision converged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlops.config import FactoryConfig
from mlops.errors import FactoryError
from mlops.infra import azure_preflight
from mlops.infra.layout import Layout, lock_timeout, seconds
from mlops.infra.lock import infra_lock
from mlops.infra.synth import input_hash, synth
from mlops.infra.terraform_dir import ensure_init, needs_init, terraform_for
from mlops.records import PlanRecord, RecordError, StackPlan
from mlops.terraform import TerraformError, TerraformStateError
from mlops.terraform.plan_summary import PlanSummary, summarize, to_markdown


class NoSavedPlan(FactoryError):
    """apply without a saved plan."""


class StalePlan(FactoryError):
    """The saved plan no longer matches the configuration or the state."""


class UnreadableState(FactoryError):
    """The local Terraform state file is corrupt; the message says how to restore it."""


@contextlib.contextmanager
def _readable_state(target: str, layout: Layout):
    """Name the state file and its backup when Terraform cannot read the state (it reports
    that under "Error acquiring the state lock", which is not a lock problem)."""
    try:
        yield
    except TerraformStateError as exc:
        if target != "local":
            raise
        state = layout.local_state()
        backup = state.with_name(state.name + ".backup")
        how = (f"Terraform's previous state is in {backup}: check it with `terraform show "
               f"{backup}`, then `cp {backup} {state}` and run the command again"
               if backup.is_file() else
               f"there is no {backup} beside it; restore the workspace from "
               f"{layout.archive_dir} (`nox -s destroy` archives it) or move the broken file "
               f"away and re-provision")
        raise UnreadableState(f"the local Terraform state {state} is unreadable (corrupt or "
                              f"truncated), not locked: {'; '.join(map(str, exc.diagnostics))}"
                              f"\n{how}") from None


@dataclass
class PlanOutcome:
    target: str
    summaries: list[PlanSummary] = field(default_factory=list)
    markdown: Path | None = None

    @property
    def has_changes(self) -> bool:
        return any(s.has_changes for s in self.summaries)


def _say(text: str) -> None:
    print(text, flush=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state_version(target: str, layout: Layout) -> tuple | None:
    """(lineage, serial) of the local state: any apply in between makes a plan stale.
    Remote (azure) state is checked by Terraform itself when the plan is applied."""
    if target != "local":
        return None
    try:
        state = json.loads(layout.local_state().read_text())
        return (state.get("lineage"), state.get("serial"))
    except (OSError, ValueError):
        return None


def _prepare(config: FactoryConfig, target: str, layout: Layout) -> list[str]:
    """Synth (skipped when unchanged), azure prerequisites, init when needed -> stack names."""
    result = synth(config, target, layout=layout)
    for line in result.lines()[:1]:
        _say(line)
    stacks = [s.name for s in result.stacks]
    azure = target == "azure"
    if azure:
        _azure_preflight(stacks, layout)
    for stack in stacks:
        tf = terraform_for(stack, layout)
        if ensure_init(tf, stack, layout,
                       timeout=azure_preflight.init_timeout() if azure else None,
                       hint=azure_preflight.INIT_HINT if azure else ""):
            _say(f"init {stack}: done")
    return stacks


def _azure_preflight(stacks: list[str], layout: Layout) -> None:
    """Credentials and provider downloads, checked together so one run names both. (The
    backend file is checked by the synth, which fails naming it.)"""
    from mlops.infra.credentials import devops_credential_problems

    problems = azure_preflight.credential_problems()
    if "azure_devops" in stacks:
        problems += devops_credential_problems(os.environ)
    for stack in (s for s in stacks if needs_init(s, layout)):
        try:  # providers only, no backend: answers "can this machine download providers?"
            terraform_for(stack, layout).init(backend=False,
                                              timeout=azure_preflight.init_timeout())
        except TerraformError as exc:
            reason = "; ".join(str(d) for d in exc.diagnostics) or str(exc)
            problems.append(azure_preflight.provider_problem(reason[:400]))
            break
    if problems:
        raise azure_preflight.AzurePrerequisiteError(
            "cannot run Terraform for --target azure from this machine:\n  - " + "\n  - ".join(problems))


def _dependencies(target: str, layout: Layout) -> dict[str, list[str]]:
    """Stack -> stacks whose outputs it reads (cdktn's manifest of the last synth)."""
    try:
        manifest = json.loads((layout.synth_dir / f"manifest-{target}.json").read_text())
        return {name: list(s.get("dependencies", [])) for name, s in manifest["stacks"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def _missing_local_parts(layout: Layout) -> list[str]:
    """Addresses of local parts the state records but the disk lacks (a kill -9 mid-apply leaves
    such a resource in state, or a user deleted the folder): planned for replacement."""
    from mlops.infra.local_bootstrap import present

    try:
        state = json.loads(layout.local_state().read_text())
    except (OSError, ValueError):
        return []
    missing = []
    for resource in state.get("resources", []):
        if resource.get("type") != "terraform_data":
            continue
        for instance in resource.get("instances", []):
            spec = (instance.get("attributes", {}).get("triggers_replace") or {}).get("value")
            if isinstance(spec, dict) and not present(spec):
                missing.append(f"terraform_data.{resource['name']}")
    return missing


def _plan_stack(stack: str, layout: Layout, target: str) -> tuple[PlanSummary, StackPlan]:
    tf = terraform_for(stack, layout)
    _say(f"plan {stack} ...")
    repairs = _missing_local_parts(layout) if target == "local" else []
    for address in repairs:
        _say(f"  {address}: recorded in state but missing on disk; planned for re-creation")
    final = layout.plan_file(stack)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        changes = tf.plan(tmp, replace=repairs)
        summary = summarize(stack, tf.show_plan(tmp)) if changes else PlanSummary(stack)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return summary, StackPlan(stack, summary.has_changes, final.name, _sha256(final))


def _plan_unlocked(config: FactoryConfig, target: str, layout: Layout) -> PlanOutcome:
    stacks = _prepare(config, target, layout)
    layout.plans_dir.mkdir(parents=True, exist_ok=True)
    depends = _dependencies(target, layout)
    outcome = PlanOutcome(target)
    stack_plans: list[StackPlan] = []
    changed: set[str] = set()
    for stack in stacks:
        waits_for = tuple(d for d in depends.get(stack, []) if d in changed)
        if waits_for:  # its inputs are another stack's outputs that this plan changes
            summary = PlanSummary(stack, deferred_after=waits_for)
            entry = StackPlan(stack, True, deferred_after=waits_for)
        else:
            summary, entry = _plan_stack(stack, layout, target)
        if summary.has_changes:
            changed.add(stack)
        outcome.summaries.append(summary)
        stack_plans.append(entry)
    record = PlanRecord(target, input_hash(config, target, layout),
                        datetime.now(UTC).isoformat(), tuple(stack_plans),
                        _state_version(target, layout))
    _write_json(layout.plan_record(target), record.to_dict())
    outcome.markdown = layout.plan_markdown(target)
    _write_text(outcome.markdown, to_markdown(outcome.summaries, target))
    for summary in outcome.summaries:
        for line in summary.lines():
            _say(line)
    _say(f"plan saved: {layout.plan_record(target).parent}; summary for the PR: {outcome.markdown}")
    return outcome


def _fresh_plan(config: FactoryConfig, target: str, layout: Layout) -> PlanRecord:
    """The saved plan record, or NoSavedPlan / StalePlan saying what to do."""
    path = layout.plan_record(target)
    try:
        record = PlanRecord.from_dict(json.loads(path.read_text()), str(path))
    except RecordError as exc:
        raise StalePlan(f"{exc}; run `nox -s plan` again") from None
    except (OSError, ValueError):
        raise NoSavedPlan(f"no saved plan for --target {target}: run `nox -s plan"
                          f"{' -- --target azure' if target == 'azure' else ''}` first, "
                          "review it, then apply") from None
    for stack in record.stacks:
        if stack.deferred_after:
            continue
        plan_file = layout.plans_dir / str(stack.plan)
        if not plan_file.is_file() or _sha256(plan_file) != stack.sha256:
            raise StalePlan(f"the saved plan {plan_file} is missing or was replaced; "
                            "run `nox -s plan` again")
    if input_hash(config, target, layout) != record.input_hash:
        raise StalePlan(f"the saved plan for {target} is stale: the configuration or the stacks "
                        f"changed since it was made ({record.created}); run `nox -s plan` "
                        "again and review it")
    if _state_version(target, layout) != record.state:
        raise StalePlan(f"the saved plan for {target} is stale: the Terraform state changed "
                        f"since it was made ({record.created}); run `nox -s plan` again")
    return record


def _apply_record(record: PlanRecord, target: str, layout: Layout, *, plan_deferred: bool) -> bool:
    """Apply each stack's saved plan in order. A stack deferred at plan time (it reads outputs
    an earlier stack changes) is planned now by `provision`; `apply` stops before it and asks
    for a new plan to review."""
    applied = False
    try:
        for stack in record.stacks:
            name = stack.name
            if stack.deferred_after:
                if not plan_deferred:
                    _say(f"apply {target}: {name} was planned after "
                         f"{', '.join(stack.deferred_after)}; run `nox -s plan -- --target "
                         f"{target}` again to review its plan, then apply")
                    break
                summary, stack = _plan_stack(name, layout, target)
                for line in summary.lines():
                    _say(line)
            if not stack.changes:
                continue
            _say(f"apply {name} ...")
            started = time.monotonic()
            terraform_for(name, layout).apply(layout.plans_dir / str(stack.plan))
            _say(f"apply {name}: done in {time.monotonic() - started:.1f} s")
            applied = True
    finally:
        _forget_plan(record, target, layout)  # a plan is applied once (or is now stale)
    return applied


def _forget_plan(record: PlanRecord, target: str, layout: Layout) -> None:
    for stack in record.stacks:
        layout.plan_file(stack.name).unlink(missing_ok=True)
    layout.plan_record(target).unlink(missing_ok=True)


def _lock(target: str, what: str, layout: Layout):
    return infra_lock(layout.lock_file(target), what, seconds(lock_timeout()))


# -- public API ------------------------------------------------------------------------------
def plan(config: FactoryConfig, target: str, layout: Layout | None = None) -> PlanOutcome:
    layout = layout or Layout.of(config.root)
    with _lock(target, "plan", layout), _readable_state(target, layout):
        return _plan_unlocked(config, target, layout)


def apply(config: FactoryConfig, target: str, layout: Layout | None = None) -> bool:
    """Apply the saved plan (only that); True when something changed."""
    layout = layout or Layout.of(config.root)
    with _lock(target, "apply", layout), _readable_state(target, layout):
        record = _fresh_plan(config, target, layout)
        if not record.has_changes:
            _forget_plan(record, target, layout)
            _say(f"apply {target}: the saved plan has no changes; nothing to apply")
            return False
        return _apply_record(record, target, layout, plan_deferred=False)


def provision(config: FactoryConfig, target: str, layout: Layout | None = None) -> bool:
    """synth -> plan (or the fresh saved one) -> apply when there are changes."""
    layout = layout or Layout.of(config.root)
    with _lock(target, "provision", layout), _readable_state(target, layout):
        try:
            record = _fresh_plan(config, target, layout)
            _say(f"provision {target}: using the saved plan from {record.created}")
        except (NoSavedPlan, StalePlan):
            _plan_unlocked(config, target, layout)
            record = _fresh_plan(config, target, layout)
        if not record.has_changes:
            _forget_plan(record, target, layout)
            _say(f"provision {target}: no changes; the infrastructure is up to date")
            _record_converged(config, target, layout)
            return False
        _apply_record(record, target, layout, plan_deferred=True)
        _say(f"provision {target}: done")
        _record_converged(config, target, layout)
        return True


def _converged(config: FactoryConfig, layout: Layout) -> dict:
    """What a plan of the local stack depends on: the stacks' inputs and the state's version
    (the parts on disk are checked one by one, see _missing_local_parts)."""
    return {"inputs": input_hash(config, "local", layout),
            "state": list(_state_version("local", layout) or ())}


def _record_converged(config: FactoryConfig, target: str, layout: Layout) -> None:
    if target == "local":
        _write_json(layout.converged_record(), _converged(config, layout))


def provision_on_demand(config: FactoryConfig, layout: Layout | None = None) -> bool:
    """The local workspace for a model session: provisioned, without running Terraform when
    nothing a plan would look at changed since the last provision converged (the same stack
    inputs, the same state lineage and serial, every part the state records on disk). The
    local stack holds only terraform_data parts, so there is no remote drift to find; any
    difference, a deleted folder included, takes the full synth, plan, apply path."""
    layout = layout or Layout.of(config.root)
    with _lock("local", "provision", layout):
        try:
            recorded = json.loads(layout.converged_record().read_text())
        except (OSError, ValueError):
            recorded = None
        if recorded == _converged(config, layout) and layout.local_state().is_file() \
                and not _missing_local_parts(layout):
            _say("provision local: unchanged since it last converged (same stack inputs, "
                 "same state, every part on disk); nothing to plan")
            return False
    return provision(config, "local", layout)


def destroy(config: FactoryConfig, target: str, *, delete_data: bool = False,
            layout: Layout | None = None) -> None:
    layout = layout or Layout.of(config.root)
    if target == "azure" and not delete_data:
        raise FactoryError("destroy --target azure deletes the Azure ML workspace with its "
                           "registered models, data assets and runs, and cannot archive them "
                           "first; re-run with --delete-data to confirm")
    with _lock(target, "destroy", layout), _readable_state(target, layout):
        if target == "local" and not _has_resources(layout.local_state()):
            _say("destroy local: nothing is provisioned (no resources in the Terraform state)")
            return
        stacks = _prepare(config, target, layout)
        workspace_root = _local_workspace_root(config, layout) if target == "local" else None
        if target == "local":
            _stop_local_endpoints(config, layout)
        archive = None
        if workspace_root is not None and workspace_root.exists() and not delete_data:
            archive = _archive(workspace_root, layout)
            _say(f"destroy local: archived the workspace (models, data, runs) to {archive}")
        for stack in reversed(stacks):
            _say(f"destroy {stack} ...")
            terraform_for(stack, layout).destroy()
        layout.plan_record(target).unlink(missing_ok=True)  # plans against the old state
        if target == "local":
            layout.converged_record().unlink(missing_ok=True)
        if workspace_root is not None and workspace_root.exists():
            shutil.rmtree(workspace_root)
            _say(f"destroy local: removed {workspace_root} "
                 + ("(--delete-data: models, data and runs deleted for good)" if delete_data
                    else f"(restore with: tar -xzf {archive} -C {workspace_root.parent})"))
        _say(f"destroy {target}: done")


def _has_resources(state: Path) -> bool:
    try:
        return bool(json.loads(state.read_text()).get("resources"))
    except (OSError, ValueError):
        return False


def _local_workspace_root(config: FactoryConfig, layout: Layout) -> Path | None:
    from mlops.errors import WorkspaceNotProvisioned
    from mlops.infra.outputs import read_workspace

    try:
        return read_workspace(config, "local", layout=layout).root
    except WorkspaceNotProvisioned:
        return None


def _stop_local_endpoints(config: FactoryConfig, layout: Layout) -> None:
    """No endpoint process outlives its workspace (mlops/serving/shutdown.py)."""
    from mlops.errors import WorkspaceNotProvisioned
    from mlops.infra.outputs import read_workspace
    from mlops.serving.registry import EndpointRegistry
    from mlops.serving.shutdown import stop_all

    try:
        registry = read_workspace(config, "local", layout=layout).endpoint_registry
    except WorkspaceNotProvisioned:
        return
    for line in stop_all(EndpointRegistry(registry)) if registry else []:
        _say(f"destroy local: stopped {line}")


def _archive(folder: Path, layout: Layout) -> Path:
    layout.archive_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.archive_dir, 0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = layout.archive_dir / f"{folder.name}-{stamp}.tar.gz"
    tmp = final.with_name(f".{final.name}.tmp")
    # owner-only from its first byte: the archive holds the endpoint keys and the registry
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask only downward; be explicit
    os.replace(tmp, final)
    return final


def _write_json(path: Path, value: dict) -> None:
    _write_text(path, json.dumps(value, indent=2))


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
