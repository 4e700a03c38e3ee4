"""The endpoint commands' pure parts: the JSON listing and who approves."""

from __future__ import annotations

import json

from mlops.commands.approve import approver
from mlops.commands.endpoints import as_rows
from mlops.platform.base import EndpointInfo

INFOS = [EndpointInfo("nyc-taxi-online", "online", "nyc_taxi", "3",
                      "http://127.0.0.1:20001/score", "healthy", key="k1", extra={"port": 1}),
         EndpointInfo("nyc-taxi-batch", "batch", "nyc_taxi", "3", "file:///x", "ready"),
         EndpointInfo("london-taxi-online", "online", "london_taxi", "1",
                      "http://127.0.0.1:20002/score", "healthy")]


def test_rows_have_the_listed_fields_and_keys_only_when_present():
    rows = as_rows(INFOS)
    assert json.loads(json.dumps(rows))[1] == {
        "name": "nyc-taxi-batch", "kind": "batch", "model": "nyc_taxi", "model_version": "3",
        "scoring_uri": "file:///x", "status": "ready"}
    assert rows[0]["key"] == "k1" and "key" not in rows[2]
    assert "extra" not in rows[0]


def test_rows_filter_by_model():
    assert [r["name"] for r in as_rows(INFOS, ["london_taxi"])] == ["london-taxi-online"]


def test_approver_prefers_the_ci_user():
    assert approver({"BUILD_REQUESTEDFOR": "Ada Lovelace"}) == "Ada Lovelace"
    assert approver({"GITHUB_ACTOR": "octocat"}) == "octocat"
    assert approver({}) != ""
