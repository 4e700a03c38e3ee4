"""endpoints: list every endpoint of the workspace: name, kind, model, model version, scoring
URI, status (--json: a JSON list; --show-keys: add each online endpoint's key)."""

from __future__ import annotations

import json
from argparse import Namespace

from mlops.config import FactoryConfig
from mlops.records import EndpointInfo

FIELDS = ("name", "kind", "model", "model_version", "scoring_uri", "status")


def as_rows(infos: list[EndpointInfo], models: list[str] | None = None) -> list[dict]:
    rows = []
    for info in infos:
        if models is not None and info.model not in models:
            continue
        row = {field: getattr(info, field) for field in FIELDS}
        if info.key is not None:
            row["key"] = info.key
        rows.append(row)
    return rows


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.platform import get_platform

    infos = get_platform(args.target, config).endpoints(show_keys=args.show_keys)
    rows = as_rows(infos, args.models if args.only_models else None)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no endpoints deployed; run `nox -s deploy`")
        return 0
    columns = [*FIELDS, *(["key"] if args.show_keys else [])]
    widths = {c: max(len(c), *(len(str(r.get(c) or "-")) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c) or "-").ljust(widths[c]) for c in columns))
    return 0
