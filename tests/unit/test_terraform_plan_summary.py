"""Plan summaries from `terraform show -json` (a captured plan of the local stack in which
CLUSTER_MAX_NODES went from 4 to 6) and their PR-comment markdown."""

from __future__ import annotations

import json
from pathlib import Path

from mlops.terraform.plan_summary import PlanSummary, summarize, to_markdown

FIXTURE = Path(__file__).parent / "fixtures" / "terraform_show_plan_replace.json"


def test_captured_plan_shows_exactly_the_cluster_replacement():
    summary = summarize("local", json.loads(FIXTURE.read_text()))
    assert [(c.address, c.action, c.changed) for c in summary.changes] == [
        ("terraform_data.compute_cluster", "replace", ("triggers_replace.max_nodes",))]
    assert summary.output_changes == ["workspace"]
    assert summary.headline() == ("local: 0 to add, 0 to change, 1 to replace, 0 to destroy; "
                                  "1 output(s) change")


def _rc(address: str, *actions: str, before=None, after=None) -> dict:
    return {"address": address, "change": {"actions": list(actions), "before": before,
                                           "after": after}}


def test_every_action_kind_is_counted():
    plan = {"resource_changes": [
        _rc("a.new", "create"), _rc("a.same", "no-op"),
        _rc("a.upd", "update", before={"name": "x", "tags": {"a": 1}},
            after={"name": "x", "tags": {"a": 2}}),
        _rc("a.gone", "delete"), _rc("a.cbd", "create", "delete"), _rc("d.read", "read")]}
    summary = summarize("azureml", plan)
    assert [(c.action, c.address) for c in summary.changes] == [
        ("create", "a.new"), ("update", "a.upd"), ("replace", "a.cbd"), ("delete", "a.gone"),
        ("read", "d.read")]
    assert summary.changes[1].changed == ("tags.a",)
    assert (summary.count("create"), summary.count("update"), summary.count("replace"),
            summary.count("delete")) == (1, 1, 1, 1)


def test_markdown_for_the_pr_comment():
    summary = summarize("local", json.loads(FIXTURE.read_text()))
    text = to_markdown([summary], "local")
    assert "| local | 0 | 0 | 1 | 0 |" in text
    assert "| replace | `terraform_data.compute_cluster` | triggers_replace.max_nodes |" in text
    assert to_markdown([PlanSummary("local")], "local").endswith(
        "No changes: the infrastructure matches the configuration.\n")
    assert PlanSummary("local").lines() == [
        "local: no changes; the infrastructure matches the configuration"]
