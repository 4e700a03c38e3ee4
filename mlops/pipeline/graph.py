"""Dependency order of a pipeline's jobs (data edges only, as Azure ML)."""

from __future__ import annotations

from mlops.errors import FactoryError


class PipelineCycleError(FactoryError):
    """The jobs' data dependencies form a cycle."""


def order(spec) -> list[str]:
    """Jobs in a dependency order (YAML order among independent jobs); raises on a cycle."""
    deps = {name: job.depends_on for name, job in spec.jobs.items()}
    done: list[str] = []
    remaining = list(spec.jobs)
    while remaining:
        ready = [name for name in remaining if deps[name] <= set(done)]
        if not ready:
            raise PipelineCycleError(f"{spec.file}: jobs {', '.join(sorted(remaining))} depend on "
                                     f"each other in a cycle (through their inputs)")
        done.extend(ready)
        remaining = [name for name in remaining if name not in ready]
    return done


def downstream(spec, job: str) -> set[str]:
    """Every job that (transitively) consumes an output of ``job``."""
    found: set[str] = set()
    frontier = {job}
    while frontier:
        frontier = {name for name, j in spec.jobs.items() if j.depends_on & frontier} - found
        found |= frontier
    return found
