"""monitor's and ui's command lines: the exit code and message name the drifted columns, --env
names the report, the UI refuses Azure and a bad port by name."""

from __future__ import annotations

import json

import pytest

from mlops.cli import main
from mlops.records import ColumnDrift, MonitorRecord, Workspace


def _record(model: str, env: str, drifted: tuple[str, ...]) -> MonitorRecord:
    columns = tuple(ColumnDrift(c, "input", "numerical", "wasserstein",
                                0.5 if c in drifted else 0.01, 0.1, c in drifted)
                    for c in ("distance", "vendor"))
    return MonitorRecord(model=model, env=env, target="local", endpoint=f"{model}-online",
                         threshold=0.1, drifted_columns=drifted, columns=columns,
                         html=f"reports/{model}_monitor_{env}.html")


class _FakePlatform:
    def __init__(self, drifted):
        self.drifted, self.calls = drifted, []

    def monitor(self, entry, names, reports, env):
        self.calls.append((entry.model, entry.env, env, reports.name))
        return _record(entry.model, env, self.drifted.get(entry.model, ()))


def _cli(monkeypatch, drifted, argv):
    import mlops.platform

    fake = _FakePlatform(drifted)
    monkeypatch.setattr(mlops.platform, "get_platform", lambda target, config: fake)
    monkeypatch.setenv("FACTORY_INFRA_ENV", "dev")  # restored after; --env sets it
    return main(argv), fake


def test_no_drift_exits_zero_and_monitors_the_deployed_entry(monkeypatch, capsys):
    code, fake = _cli(monkeypatch, {}, ["monitor", "nyc_taxi"])
    assert code == 0
    assert fake.calls == [("nyc_taxi", "dev", "dev", "reports")]  # the entry deploy serves
    out = capsys.readouterr().out
    assert "distance" in out and "DRIFT" not in out


def test_drift_exits_one_naming_the_model_and_columns(monkeypatch, capsys):
    code, _ = _cli(monkeypatch, {"nyc_taxi": ("distance",)},
                   ["monitor", "nyc_taxi", "london_taxi", "--env", "dev"])
    assert code == 1
    captured = capsys.readouterr()
    assert ("error: nyc_taxi: drift in distance (threshold 0.1); see "
            "reports/nyc_taxi_monitor_dev.html") in captured.err
    assert "london_taxi" not in captured.err


def test_json_output_is_the_records(monkeypatch, capsys):
    code, _ = _cli(monkeypatch, {"nyc_taxi": ("distance", "vendor")},
                   ["monitor", "nyc_taxi", "--json"])
    assert code == 1
    (record,) = [MonitorRecord.from_dict(r) for r in json.loads(capsys.readouterr().out)]
    assert record.drifted_columns == ("distance", "vendor")


def test_records_from_a_newer_factory_are_refused_by_name():
    data = _record("nyc_taxi", "dev", ()).to_dict()
    data["schema_version"] = 99
    from mlops.records import RecordError

    with pytest.raises(RecordError, match="monitor record: schema_version 99 is newer"):
        MonitorRecord.from_dict(data)


def test_ui_refuses_an_azure_workspace_and_a_bad_port(tmp_path):
    from mlops import ui
    from mlops.records import Cluster

    azure = Workspace(target="azure", name="mlw-x", location="westeurope",
                      compute=Cluster("c", "S", 1), batch_compute=Cluster("b", "S", 1),
                      mlflow_tracking_uri="azureml://x", mlflow_registry_uri="azureml://x")
    with pytest.raises(ui.UIError, match="its UI is Azure ML studio"):
        ui.command(azure, 5000)
    with pytest.raises(ui.UIError, match="FACTORY_UI_PORT='80'"):
        ui.choose_port({"FACTORY_UI_PORT": "80"})
    assert ui.choose_port({"FACTORY_UI_PORT": "8123"}) == 8123
    local = Workspace(target="local", name="mlw-x", location="local",
                      compute=Cluster("c", "S", 1), batch_compute=Cluster("b", "S", 1),
                      mlflow_tracking_uri="sqlite:////w/mlflow.db",
                      mlflow_registry_uri="sqlite:////w/mlflow.db", root=tmp_path,
                      artifact_root=tmp_path / "artifacts")
    argv = ui.command(local, 8123)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"  # never beyond this machine
    assert argv[argv.index("--backend-store-uri") + 1] == "sqlite:////w/mlflow.db"


def test_a_model_not_served_online_has_nothing_to_monitor(monkeypatch, capsys, config_root,
                                                          edit_json):
    """No online endpoint collects requests, so monitor says so and goes on with the others
    (exit 0) instead of failing on a missing endpoint or missing collected data."""
    edit_json("config/model_config.json", lambda d: next(
        e for e in d["models"] if (e["ML_MODEL_CONFIG_NAME"], e["ENV_NAME"]) == ("nyc_taxi", "dev")
    ).update(IS_ONLINE_DEPLOYMENT=False))
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    code, fake = _cli(monkeypatch, {}, ["monitor", "nyc_taxi", "london_taxi"])
    assert code == 0
    assert [call[0] for call in fake.calls] == ["london_taxi"]
    assert ("nyc_taxi: nothing to monitor: nyc_taxi/dev: IS_ONLINE_DEPLOYMENT is false, so no "
            "online endpoint collects requests") in capsys.readouterr().out
