"""Writes docs/benchmarks.md: one block per area, replaced in place when that area is re-run."""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from mlops.bench import AREAS, Section

HEADER = ("# Benchmarks\n\nProduced by `nox -s bench` (all areas) or `nox -s bench -- --only AREA`.\n"
          "Each area records the exact command, the machine and the date of its run.\n")


def _render(section: Section, command: str) -> str:
    lines = [f"<!-- area:{section.area} -->", f"## {section.title}", "",
             f"Command: `{command}`  ", f"Machine: {platform.machine()}, "
             f"{_cpu_count()} cores, Python {platform.python_version()}  ",
             f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             "| measurement | value | target | met |", "|---|---:|---|---|"]
    for m in section.measurements:
        met = "" if m.met is None else ("yes" if m.met else "**no**")
        value = f"{m.value:,.3f} {m.unit}".replace(".000 ", " ") if m.unit else f"{m.value:,.3f}"
        name = m.name + (f" ({m.note})" if m.note else "")
        lines.append(f"| {name} | {value} | {m.target} | {met} |")
    if section.notes:
        lines.append("")
        lines.extend(f"- {note}" for note in section.notes)
    lines.append(f"<!-- /area:{section.area} -->")
    return "\n".join(lines) + "\n"


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def write(path: Path, sections: list[Section], command: str) -> None:
    """Replace the blocks of the areas just run, keep the others, order by AREAS."""
    existing = path.read_text() if path.exists() else ""
    blocks = {m.group(1): m.group(0) for m in
              re.finditer(r"<!-- area:(\w+) -->.*?<!-- /area:\1 -->\n", existing, re.S)}
    for section in sections:
        blocks[section.area] = _render(section, command)
    body = "\n".join(blocks[a] for a in AREAS if a in blocks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(HEADER + "\n" + body)
    tmp.replace(path)
