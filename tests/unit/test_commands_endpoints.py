"""The endpoint commands' pure parts: the JSON listing and who approves."""

from __future__ import annotations

import json

from mlops.commands.approve import approver
from mlops.commands.endpoints import as_rows
from mlops.records import EndpointInfo

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


class _FakePlatform:
    def __init__(self):
        self.calls = []

    def endpoints(self, show_keys=False):
        self.calls.append(("endpoints", show_keys))
        return [i if show_keys else _without_key(i) for i in INFOS]

    def undeploy(self, entry):
        self.calls.append(("undeploy", entry.model))
        return [] if entry.model == "london_taxi" else ["online endpoint nyc-taxi-online"]

    def invoke(self, entry):
        return {"online": {"endpoint": "e", "model_version": "3", "predictions": [1.5]},
                "batch": {"endpoint": "b", "rows": 900, "files": 3, "output": "/o.csv",
                          "errors": "/e.json", "failed_files": []}}


def _without_key(info):
    from dataclasses import replace

    return replace(info, key=None)


def _run(module, monkeypatch, capsys, argv):
    import mlops.platform
    from mlops.cli import build_parser
    from mlops.config import load_config

    fake = _FakePlatform()
    monkeypatch.setattr(mlops.platform, "get_platform", lambda target, config: fake)
    args = build_parser().parse_args(argv)
    args.only_models = bool(args.models)
    args.models = args.models or ["london_taxi", "nyc_taxi"]
    code = module.run(args, load_config())
    return code, capsys.readouterr().out, fake


def test_endpoints_json_lists_fields_and_keys_on_request(monkeypatch, capsys):
    from mlops.commands import endpoints

    code, out, _ = _run(endpoints, monkeypatch, capsys, ["endpoints", "--json"])
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and all("key" not in r for r in rows)
    _, out, fake = _run(endpoints, monkeypatch, capsys, ["endpoints", "--json", "--show-keys"])
    assert json.loads(out)[0]["key"] == "k1" and fake.calls == [("endpoints", True)]
    _, out, _ = _run(endpoints, monkeypatch, capsys, ["endpoints"])
    assert out.splitlines()[0].split() == ["NAME", "KIND", "MODEL", "MODEL_VERSION",
                                           "SCORING_URI", "STATUS"]


def test_undeploy_says_what_it_removed(monkeypatch, capsys):
    from mlops.commands import undeploy

    code, out, _ = _run(undeploy, monkeypatch, capsys, ["undeploy"])
    assert code == 0
    assert "london_taxi: no endpoint deployed, nothing removed" in out
    assert "nyc_taxi: removed online endpoint nyc-taxi-online" in out


def test_invoke_prints_predictions_and_batch_output(monkeypatch, capsys):
    from mlops.commands import invoke

    code, out, _ = _run(invoke, monkeypatch, capsys, ["invoke", "nyc_taxi"])
    assert code == 0 and "predictions: [1.5]" in out and "900 prediction rows" in out
