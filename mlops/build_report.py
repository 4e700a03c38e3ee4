"""Build summaries: the metrics table printed by pr_build/ci_build, and per model
reports/<model>_<env>.json plus a markdown version for a PR comment."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.records import PipelineResult


@dataclass
class BuildReport:
    model: str
    env: str
    target: str
    status: str  # "passed" | "failed" | "submitted"
    experiment: str = ""
    display_name: str = ""
    run_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # lint, tests
    deployment: dict[str, Any] | None = None
    error: str = ""

    @classmethod
    def from_result(cls, result: PipelineResult, target: str) -> BuildReport:
        gate = None
        if result.gate is not None:
            g = result.gate
            gate = {"passed": g.passed, "registered": g.registered, "reason": g.reason,
                    "metric": g.metric, "candidate": g.candidate, "champion": g.champion,
                    "model_version": g.model_version}
        return cls(model=result.model, env=result.env, target=target,
                   status="submitted" if result.status == "submitted" else "passed",
                   experiment=result.experiment_name, display_name=result.display_name,
                   run_id=result.run_id, metrics=dict(result.metrics), gate=gate,
                   steps=[{"name": s.name, "status": s.status, "reused": s.reused,
                           "seconds": s.seconds} for s in result.steps])

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "env": self.env, "target": self.target,
                "status": self.status, "experiment": self.experiment,
                "display_name": self.display_name, "run_id": self.run_id,
                "metrics": dict(self.metrics), "gate": self.gate,
                "steps": self.steps, "checks": self.checks, "deployment": self.deployment,
                "error": self.error,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def gate_summary(gate: dict[str, Any] | None) -> str:
    if not gate:
        return "no gate decision"
    if gate["registered"]:
        return f"passed, registered v{gate.get('model_version')}"
    return "passed, champion kept" if gate["passed"] else "FAILED threshold"


def _metrics_cell(metrics: dict[str, float]) -> str:
    """Every metric the model's task reports, in the order the pipeline reported them."""
    return "  ".join(f"{name} {_fmt(value)}" for name, value in metrics.items()) or "-"


def table(reports: list[BuildReport]) -> str:
    """The metrics table printed at the end of a build (each model with its task's metrics)."""
    rows = [("model", "env", "metrics", "reused", "gate")]
    for r in reports:
        reused = f"{sum(s['reused'] for s in r.steps)}/{len(r.steps)}" if r.steps else "-"
        gate = gate_summary(r.gate) if r.status != "failed" else f"build failed: {r.error[:40]}"
        rows.append((r.model, r.env, _metrics_cell(r.metrics), reused, gate))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(report: BuildReport) -> str:
    """A PR comment: outcome, metrics, gate decision, steps."""
    icon = {"passed": "✅", "failed": "❌", "submitted": "⏳"}[report.status]
    lines = [f"### {icon} {report.model} · {report.env} · {report.status}", ""]
    if report.experiment:
        lines.append(f"Experiment `{report.experiment}`, run `{report.display_name}` "
                     f"(`{report.run_id}`) on {report.target}.")
        lines.append("")
    if report.error:
        lines += ["```", report.error.strip()[-3000:], "```", ""]
    if report.metrics:
        lines += ["| metric | value |", "|---|---:|"]
        lines += [f"| {m} | {_fmt(v)} |" for m, v in report.metrics.items()]
        lines.append("")
    if report.gate:
        g = report.gate
        lines += [f"**Gate ({g['metric']}):** {gate_summary(g)} — {g['reason']}",
                  f"candidate {_fmt(g['candidate'])}, champion {_fmt(g['champion'])}", ""]
    if report.checks:
        lines.append("Checks: " + ", ".join(f"{c['name']} {c['status']}" for c in report.checks))
        lines.append("")
    if report.steps:
        lines += ["| step | status | seconds |", "|---|---|---:|"]
        lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} |" for s in report.steps]
        lines.append("")
    if report.deployment:
        lines.append(f"Deployment: {report.deployment.get('summary', report.deployment)}")
    return "\n".join(lines).rstrip() + "\n"


_CSS = ("body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}"
        ".passed{color:#17692f}.failed{color:#b00020}.submitted{color:#8a6d00}")


def html(report: BuildReport) -> str:
    """The same report as a page to open in a browser (`nox -s ui` lists it)."""
    from html import escape

    def rows(header: tuple[str, ...], body: list[tuple[Any, ...]]) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        cells = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                        for row in body)
        return f"<table><tr>{head}</tr>{cells}</table>"

    title = f"{report.model} · {report.env} · {report.status}"
    parts = [f"<h1 class='{escape(report.status)}'>{escape(title)}</h1>"]
    if report.experiment:
        parts.append(f"<p>Experiment <code>{escape(report.experiment)}</code>, run "
                     f"<code>{escape(report.display_name)}</code> "
                     f"(<code>{escape(report.run_id)}</code>) on {escape(report.target)}.</p>")
    if report.error:
        parts.append(f"<pre>{escape(report.error.strip()[-3000:])}</pre>")
    if report.metrics:
        parts.append(rows(("metric", "value"),
                          [(m, _fmt(v)) for m, v in report.metrics.items()]))
    if report.gate:
        g = report.gate
        parts.append(f"<p><b>Gate ({escape(g['metric'])}):</b> {escape(gate_summary(g))} — "
                     f"{escape(g['reason'])}; candidate {_fmt(g['candidate'])}, champion "
                     f"{_fmt(g['champion'])}</p>")
    if report.checks:
        parts.append(rows(("check", "status"), [(c["name"], c["status"])
                                                for c in report.checks]))
    if report.steps:
        parts.append(rows(("step", "status", "seconds"),
                          [(s["name"], s["status"], f"{s['seconds']:.1f}")
                           for s in report.steps]))
    if report.deployment:
        parts.append(f"<p>Deployment: {escape(str(report.deployment.get('summary', report.deployment)))}</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write(report: BuildReport, folder: Path) -> tuple[Path, Path]:
    """reports/<model>_<env>.json and .md, and .html for a browser (replaced atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report.model}_{report.env}"
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    _atomic_write(json_path, json.dumps(report.to_json(), indent=2, default=str) + "\n")
    _atomic_write(md_path, markdown(report))
    _atomic_write(folder / f"{stem}.html", html(report))
    return json_path, md_path
