"""bench: run the benchmark areas and write docs/benchmarks.md."""

from __future__ import annotations

import shlex
from argparse import Namespace

from mlops.bench import AREAS, SOAK_DEFAULT
from mlops.bench.report import write
from mlops.config import FactoryConfig
from mlops.errors import FactoryError
from mlops.paths import repo_root


def run(args: Namespace, config: FactoryConfig) -> int:
    areas = args.only or list(AREAS)
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        raise FactoryError(f"--only: unknown area(s) {', '.join(unknown)}; known: {', '.join(AREAS)}")
    from mlops.bench import batch, build, environment, infra, serving

    modules = {"environment": environment, "infra": infra, "build": build, "serving": serving,
               "batch": batch}
    assert set(modules) == set(AREAS), "every area of mlops.bench.AREAS has its module here"
    sections = []
    for area in areas:
        print(f"bench: {area} ...", flush=True)
        sections.append(modules[area].run(config, args))
    extra = "".join(f" --only {a}" for a in args.only or [])
    extra += "".join(f" {shlex.quote(m)}" for m in (args.models if args.only_models else []))
    soak = getattr(args, "soak_minutes", SOAK_DEFAULT)
    extra += f" --soak-minutes {soak:g}" if soak != SOAK_DEFAULT else ""
    write(repo_root() / "docs" / "benchmarks.md", sections, f"nox -s bench --{extra}".rstrip(" -"))
    print("bench: wrote docs/benchmarks.md")
    return 0
