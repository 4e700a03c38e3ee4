"""Reads what the data collector (mlops/serving/collector.py) logged for an endpoint: every
``<root>/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/*.jsonl`` file, Azure ML's layout,
back into one frame of model inputs and one of model outputs, row for row.

A partial last line (a deployment killed mid-write) is skipped and counted; any other line that
is not a collector record is an error naming the file and line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlops.errors import FactoryError
from mlops.serving.collector import COLLECTIONS, INPUTS, OUTPUTS


class CollectedDataError(FactoryError):
    """Collected data is missing or unreadable."""


@dataclass
class Collected:
    inputs: pd.DataFrame
    outputs: pd.DataFrame
    requests: int  # requests whose inputs and outputs were both logged
    files: int
    model_versions: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)  # "file:line" of partial lines
    first: str | None = None  # time of the first and last request
    last: str | None = None


def collection_files(root: Path, endpoint: str, collection: str) -> list[Path]:
    """Every file of ``collection`` of every deployment of ``endpoint``, oldest hour first."""
    base = Path(root) / endpoint
    files = base.glob(f"*/{collection}/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/[0-9][0-9]/"
                      f"*.jsonl")
    return sorted(files, key=lambda p: (p.relative_to(base).parts[2:], str(p)))


def _records(files: list[Path], skipped: list[str]) -> dict[str, list[dict]]:
    """correlation id -> the records of that id, in file order."""
    found: dict[str, list[dict]] = {}
    for path in files:
        lines = path.read_bytes().split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                cid = record["correlationid"]
                rows = record["data"]
                if not isinstance(rows, list):
                    raise TypeError("data is not a list of rows")
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines):  # no newline after it: a write cut short
                    skipped.append(f"{path}:{number}")
                    continue
                raise CollectedDataError(f"{path}: line {number}: not a data collector record "
                                         f"({exc})") from None
            found.setdefault(str(cid), []).append(record)
    return found


def read_collected(root: Path, endpoint: str) -> Collected:
    """The endpoint's logged requests whose inputs and outputs were both logged."""
    skipped: list[str] = []
    files = {name: collection_files(root, endpoint, name) for name in COLLECTIONS}
    if not files[INPUTS]:
        raise CollectedDataError(
            f"no collected data for endpoint {endpoint} under {Path(root) / endpoint}: send "
            f"requests to it first (data collection logs {', '.join(COLLECTIONS)})")
    inputs = _records(files[INPUTS], skipped)
    outputs = _records(files[OUTPUTS], skipped)
    input_rows, output_rows, versions, times = [], [], [], []
    for cid, records in inputs.items():
        answers = outputs.get(cid)
        if not answers:
            continue  # outputs still being written, or cut short
        for asked, answered in zip(records, answers, strict=False):
            if len(asked["data"]) != len(answered["data"]):
                continue
            input_rows += asked["data"]
            output_rows += answered["data"]
            versions.append(str(asked.get("modelversion", "")))
            times.append(str(asked.get("time", "")))
    return Collected(inputs=pd.DataFrame(input_rows), outputs=pd.DataFrame(output_rows),
                     requests=len(versions), files=sum(len(f) for f in files.values()),
                     model_versions=sorted(set(versions)), skipped_lines=skipped,
                     first=min(times) if times else None, last=max(times) if times else None)
