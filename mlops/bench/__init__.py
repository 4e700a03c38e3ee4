"""Benchmarks behind `nox -s bench`. One module per area exposes ``run(config, args) -> Section``;
results are written to docs/benchmarks.md together with the command that produced them."""

from __future__ import annotations

from dataclasses import dataclass, field

# Areas in report order (mlops/commands/bench.py runs each area's module).
AREAS = ("environment", "infra", "build", "serving", "batch")
SOAK_DEFAULT = 10.0  # minutes of the serving soak run (--soak-minutes)


@dataclass
class Measurement:
    name: str
    value: float
    unit: str  # "s", "ms", "req/s", "rows/s", "MB"
    target: str = ""  # e.g. "< 2 s"
    met: bool | None = None
    note: str = ""


@dataclass
class Section:
    area: str
    title: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, target: str = "",
            met: bool | None = None, note: str = "") -> Measurement:
        m = Measurement(name, value, unit, target, met, note)
        self.measurements.append(m)
        print(f"  {self.area}: {name}: {value:.3f} {unit}" + (f" (target {target})" if target else ""),
              flush=True)
        return m
