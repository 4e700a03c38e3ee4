"""Dependency order over data edges."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.pipeline.graph import PipelineCycleError, downstream, order


def spec(edges: dict[str, set[str]]):
    jobs = {name: SimpleNamespace(depends_on=deps) for name, deps in edges.items()}
    return SimpleNamespace(jobs=jobs, file=Path("p.yml"))


def test_order_respects_dependencies_and_keeps_yaml_order_among_independent_jobs():
    s = spec({"score": {"predict"}, "prep": set(), "train": {"prep"}, "predict": {"train"},
              "lint": set()})
    assert order(s) == ["prep", "lint", "train", "predict", "score"]


def test_downstream_is_transitive():
    s = spec({"a": set(), "b": {"a"}, "c": {"b"}, "d": set()})
    assert downstream(s, "a") == {"b", "c"}
    assert downstream(s, "d") == set()


def test_cycle_names_the_jobs():
    with pytest.raises(PipelineCycleError, match="p.yml: jobs x, y depend on each other"):
        order(spec({"x": {"y"}, "y": {"x"}, "z": set()}))
