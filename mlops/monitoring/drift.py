"""Drift of a model's production data (inputs and predictions) against its reference, computed by
evidently in its own environment (drift_job.py), and the report files `nox -s monitor` writes:
reports/<model>_monitor_<env>.html (evidently's report, charts included) and .json (a
MonitorRecord)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from mlops import _environment
from mlops.errors import FactoryError
from mlops.records import ColumnDrift, MonitorRecord

JOB = Path(__file__).with_name("drift_job.py")
PREDICTION = "prediction"  # the predictions' column in both frames
# An integer column with at most this many distinct reference values is categorical (vendor,
# passengers, weekday...); more (hour, minute, day of month) is numerical.
CATEGORICAL_MAX_VALUES = 10
REFERENCE_ROWS = 5000  # evidently's cost grows with rows; a seeded sample is plenty


class DriftError(FactoryError):
    """Drift could not be computed."""


def report_paths(reports: Path, model: str, env: str) -> tuple[Path, Path]:
    stem = f"{model}_monitor_{env}"
    return reports / f"{stem}.html", reports / f"{stem}.json"


def kinds(reference: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """column -> "numerical" | "categorical", from the reference's values."""
    result = {}
    for column in columns:
        values = reference[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        few = pd.api.types.is_integer_dtype(values) and values.nunique() <= CATEGORICAL_MAX_VALUES
        result[column] = "numerical" if numeric and not few else "categorical"
    return result


def compare(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
            threshold: float, html: Path, title: str) -> list[ColumnDrift]:
    """Each column's drift (evidently, in the drift environment); writes the HTML report."""
    column_kinds = kinds(reference, columns)
    python = _environment.ensure(_environment.DRIFT)
    html.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        work = Path(tmp)
        reference[columns].to_csv(work / "reference.csv", index=False)
        current[columns].to_csv(work / "current.csv", index=False)
        spec = {"numerical": [c for c in columns if column_kinds[c] == "numerical"],
                "categorical": [c for c in columns if column_kinds[c] == "categorical"],
                "threshold": threshold, "title": title}
        (work / "spec.json").write_text(json.dumps(spec))
        tmp_html = work / "report.html"
        result = subprocess.run(
            [str(python), str(JOB), "--reference", str(work / "reference.csv"), "--current",
             str(work / "current.csv"), "--spec", str(work / "spec.json"), "--html",
             str(tmp_html), "--json", str(work / "result.json")],
            capture_output=True, text=True, check=False, timeout=1800,
            env=_environment.tool_environment({**os.environ, "DO_NOT_TRACK": "1"}))
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise DriftError(f"{title}: evidently failed (exit {result.returncode}):\n{tail}")
        found = json.loads((work / "result.json").read_text())["columns"]
        shutil.move(tmp_html, html)
    return [ColumnDrift(column=c, role="prediction" if c == PREDICTION else "input",
                        kind=found[c]["kind"], method=found[c]["method"],
                        score=found[c]["score"], threshold=threshold,
                        drifted=bool(found[c]["drifted"])) for c in columns]


def sample(frame: pd.DataFrame, rows: int = REFERENCE_ROWS) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=0)


def write_record(record: MonitorRecord, path: Path) -> Path:
    """The JSON summary, written whole (a temp file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=2))
    tmp.replace(path)
    return path


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def summary(record: MonitorRecord) -> str:
    """What the session prints."""
    lines = [f"{record.model} ({record.env}, {record.endpoint}): {record.requests} requests, "
             f"{record.current_rows} rows vs {record.reference_rows} reference rows "
             f"({record.reference}); threshold {record.threshold}"]
    for c in record.columns:
        score = "n/a" if c.score is None else f"{c.score:.4f}"
        mark = "DRIFT" if c.drifted else "ok"
        lines.append(f"  {c.column:<20} {c.kind:<11} {c.method:<13} {score:>8}  {mark}")
    if record.html:
        lines.append(f"report: {record.html}")
    return "\n".join(lines)
