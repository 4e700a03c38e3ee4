"""The gate's verdict on a finished CI training job, and what the approver is shown.

With ``--no-wait`` the submitting step cannot apply the gate, so after the wait CI runs
`nox -s gate`, which reads the job's decision (mlops.platform.azure.pipeline.finished_job) and
applies the rule of the build that submitted it: a PR build (environment pr) fails when the
candidate misses the absolute threshold, as pr_build does locally; a CI build fails unless the
candidate was registered as the new champion, so its deploy stage never redeploys the old
champion. The same values are published for the manual approval.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops.cicd._sessions import APPROVAL_VARIABLES, JOB_URL_VARIABLE, VERSION_VARIABLE
from mlops.records import GateDecision, PipelineResult

# Environment -> what its gate must say: "passed" (threshold met) or "registered" (new champion).
PR_ENV = "pr"
METRIC_ORDER = ("r2", "rmse", "mae", "mse")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def requirement(env: str) -> str:
    return "passed" if env == PR_ENV else "registered"


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


def outcome(gate: GateDecision) -> str:
    if gate.registered:
        return f"registered as version {gate.model_version}"
    return "passed, champion kept (not registered)" if gate.passed else "FAILED the threshold"


def decision_line(gate: GateDecision) -> str:
    """Outcome, both metrics on the same test data, and the register step's reason."""
    threshold = "" if gate.threshold is None else f", threshold {gate.threshold:g}"
    return (f"{outcome(gate)}: {gate.metric} candidate {_number(gate.candidate)} vs champion "
            f"{_number(gate.champion)}{threshold}; {gate.reason}")


def verdict(result: PipelineResult, failure: str = "") -> Verdict:
    """Whether the CI run may go on; ``failure`` explains a job that did not complete."""
    job = f"Azure ML job {result.run_id} ({result.model}, {result.env})"
    if result.status != "completed":
        return Verdict(False, failure or f"{job} ended {result.status}")
    gate = result.gate
    if gate is None:
        return Verdict(False, f"{job} completed without a gate decision (the register step's "
                              "registration output has no decision.json)")
    needed = requirement(result.env)
    ok = gate.passed if needed == "passed" else gate.registered
    verb = "may proceed" if ok else f"fails: the {result.env} build needs a {needed} candidate"
    return Verdict(ok, f"{job} {verb}; gate {decision_line(gate)}")


def approval_values(result: PipelineResult) -> dict[str, str]:
    """The run's metadata for the approval, keyed by APPROVAL_VARIABLES (one line each)."""
    gate = result.gate
    if gate and gate.registered:
        version = f"{gate.model_name or result.model} version {gate.model_version}"
    else:
        version = "none: no new version was registered"
    metrics = sorted(result.metrics, key=lambda k: (METRIC_ORDER + (k,)).index(k))
    values = {
        "MODEL_VERSION": version,
        "GATE_DECISION": decision_line(gate) if gate else f"no gate decision ({result.status})",
        "METRICS": " ".join(f"{k}={result.metrics[k]:.4f}" for k in metrics) or "none",
        "DATA_ASSETS": " ".join(f"{k}={v}" for k, v in sorted(result.data.items())) or "unknown",
        JOB_URL_VARIABLE: str(result.outputs.get("studio_url") or result.run_id),
    }
    return values


def published(result: PipelineResult) -> dict[str, str]:
    """Everything `nox -s gate` publishes: the approval's values, and the version the build
    registered (empty when none) for the approve job's --version."""
    gate = result.gate
    version = gate.model_version if gate and gate.registered and gate.model_version else ""
    return {**approval_values(result), VERSION_VARIABLE: version}


def markdown(result: PipelineResult, decided: Verdict) -> str:
    """The run summary the approver reads (Azure DevOps run summary, GitHub job summary)."""
    icon = "✅" if decided.ok else "❌"
    lines = [f"### {icon} {result.model} · {result.env} · gate", "",
             "| | |", "|---|---|"]
    for name, value in approval_values(result).items():
        lines.append(f"| {APPROVAL_VARIABLES[name]} | {value.replace('|', '/')} |")
    lines += ["", decided.message.splitlines()[0]]
    detail = decided.message.splitlines()[1:]
    if detail:
        lines += ["", "```", *detail, "```"]
    return "\n".join(lines) + "\n"
