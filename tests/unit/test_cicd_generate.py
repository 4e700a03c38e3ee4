from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cicd import generate
from mlops.cicd._render import HEADER
from mlops.cli import main
from mlops.config import load_config


def _drop_model(edit_json, model: str) -> None:
    edit_json("config/model_config.json", lambda d: d.__setitem__(
        "models", [m for m in d["models"] if m["ML_MODEL_CONFIG_NAME"] != model]))


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for folder in generate.GENERATED_DIRS for p in sorted((root / folder).glob("*"))
            if p.is_file()}


def test_write_creates_every_file_then_is_a_no_op(config_root):
    config = load_config(config_root)
    first = generate.write(config, config_root)
    assert sorted(first.missing) == sorted(generate.render_all(config))
    # infra per environment + data, every model's ci, monitor and cd (per promotion target) on
    # both systems, its pr on Azure DevOps, GitHub's changed-models workflow and the per-model
    # one it calls, plus each system's shared set-up
    targets = sum(1 for env in config.infra.values() if env.promote_from)
    assert len(first.missing) == 2 * (len(config.infra) + 1 + (2 + targets) * len(
        config.model_names)) + len(config.model_names) + 2 + 2
    assert {".azure-pipelines/templates/setup.yml", ".github/actions/setup/action.yml"} <= set(
        first.missing)
    assert _tree(config_root) == generate.render_all(config)
    assert generate.write(config, config_root).clean
    assert generate.diff(config, config_root).clean


def test_diff_reports_edits_and_missing_files(config_root):
    config = load_config(config_root)
    generate.write(config, config_root)
    edited = config_root / ".azure-pipelines/nyc_taxi_ci_dev_pipeline.yml"
    edited.write_text(edited.read_text() + "# hand edit\n")
    (config_root / ".github/workflows/infra_provision_pipeline.yml").unlink()
    drift = generate.diff(config, config_root)
    assert drift.changed == [".azure-pipelines/nyc_taxi_ci_dev_pipeline.yml"]
    assert drift.missing == [".github/workflows/infra_provision_pipeline.yml"]
    assert drift.lines() == ["missing  .github/workflows/infra_provision_pipeline.yml",
                             "changed  .azure-pipelines/nyc_taxi_ci_dev_pipeline.yml"]
    generate.write(config, config_root)
    assert generate.diff(config, config_root).clean


def test_removed_model_loses_its_generated_files_but_hand_written_ones_stay(config_root,
                                                                           edit_json):
    generate.write(load_config(config_root), config_root)
    own = config_root / ".github/workflows/codeql.yml"
    own.write_text("name: codeql  # " + HEADER + "\n")  # header not on line 1: not generated
    _drop_model(edit_json, "london_taxi")
    drift = generate.write(load_config(config_root), config_root)
    assert sorted(drift.stale) == [
        ".azure-pipelines/london_taxi_cd_prod_pipeline.yml",
        ".azure-pipelines/london_taxi_ci_dev_pipeline.yml",
        ".azure-pipelines/london_taxi_monitor_dev_pipeline.yml",
        ".azure-pipelines/london_taxi_pr_dev_pipeline.yml",
        ".github/workflows/london_taxi_cd_prod_pipeline.yml",
        ".github/workflows/london_taxi_ci_dev_pipeline.yml",
        ".github/workflows/london_taxi_monitor_dev_pipeline.yml"]
    assert not list(config_root.rglob("london_taxi_*_pipeline.yml"))
    assert own.exists()
    assert not list(config_root.rglob("*.tmp"))


def _serve(edit_json, model: str, env: str, **keys: bool) -> None:
    edit_json("config/model_config.json", lambda d: next(
        m for m in d["models"] if (m["ML_MODEL_CONFIG_NAME"], m["ENV_NAME"]) == (model, env)
    ).update(keys))


def test_a_model_not_served_online_gets_no_monitoring_pipeline(config_root, edit_json):
    """Only an online endpoint collects requests to monitor: a model whose deployed entry (dev)
    has IS_ONLINE_DEPLOYMENT false loses its scheduled monitoring pipeline on both systems (and
    so its Azure DevOps build definition, made from the same list); its other pipelines stay."""
    from mlops.cicd.definitions import pipeline_definitions

    generate.write(load_config(config_root), config_root)
    _serve(edit_json, "london_taxi", "pr", IS_ONLINE_DEPLOYMENT=False)  # pr deploys nothing
    _serve(edit_json, "nyc_taxi", "dev", IS_BATCH_DEPLOYMENT=False)  # still served online
    assert generate.diff(load_config(config_root), config_root).clean

    _serve(edit_json, "london_taxi", "dev", IS_ONLINE_DEPLOYMENT=False)
    config = load_config(config_root)
    drift = generate.write(config, config_root)
    assert sorted(drift.stale) == [".azure-pipelines/london_taxi_monitor_dev_pipeline.yml",
                                   ".github/workflows/london_taxi_monitor_dev_pipeline.yml"]
    assert not drift.missing and not drift.changed
    assert {d.model for d in pipeline_definitions(config) if d.kind == "monitor"} == {
        "breast_cancer", "nyc_taxi"}
    assert (config_root / ".azure-pipelines/london_taxi_ci_dev_pipeline.yml").is_file()


def test_drift_covers_the_shared_setup_files(config_root):
    config = load_config(config_root)
    generate.write(config, config_root)
    template = config_root / ".azure-pipelines/templates/setup.yml"
    template.write_text(template.read_text().replace("nox[uv]", "nox"))
    (config_root / ".github/actions/setup/action.yml").unlink()
    drift = generate.diff(config, config_root)
    assert drift.changed == [".azure-pipelines/templates/setup.yml"]
    assert drift.missing == [".github/actions/setup/action.yml"]


def test_path_filters_come_from_config(config_root, edit_json):
    def widen(data):
        for entry in data["models"]:
            if entry["ML_MODEL_CONFIG_NAME"] == "nyc_taxi":
                entry["PATH_FILTERS"] = [*entry["PATH_FILTERS"], "docs/nyc/*"]

    edit_json("config/model_config.json", widen)
    files = generate.render_all(load_config(config_root))
    assert "      - docs/nyc/**\n" in files[".azure-pipelines/nyc_taxi_pr_dev_pipeline.yml"]
    assert "      - docs/nyc/**\n" in files[".github/workflows/nyc_taxi_ci_dev_pipeline.yml"]
    assert "docs/nyc" not in files[".azure-pipelines/london_taxi_pr_dev_pipeline.yml"]
    # and every model's builds follow the factory code it is staged with
    assert "      - mlops/steps/**\n" in files[".azure-pipelines/london_taxi_pr_dev_pipeline.yml"]


def test_cli_check_mode_reports_drift_and_writes_nothing(config_root, monkeypatch, capsys):
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    assert main(["pipelines", "--check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: CI files drifted from config; run `nox -s pipelines`:")
    assert "missing  .azure-pipelines/infra_provision_pipeline.yml" in err
    assert not (config_root / ".azure-pipelines").exists()

    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    assert "wrote    .github/workflows/nyc_taxi_ci_dev_pipeline.yml" in out
    assert main(["pipelines", "--check"]) == 0
    count = len(generate.render_all(load_config(config_root)))
    assert f"CI files match config ({count} files)" in capsys.readouterr().out
    assert main(["pipelines"]) == 0
    assert "nothing written" in capsys.readouterr().out


def test_bad_config_writes_nothing(config_root, edit_json, monkeypatch, capsys):
    edit_json("config/infra_config.json", lambda d: d["dev"].pop("AZURE_RM_SVC_CONNECTION"))
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    assert main(["pipelines"]) == 1
    assert "AZURE_RM_SVC_CONNECTION" in capsys.readouterr().err
    assert not (config_root / ".azure-pipelines").exists()
    assert not (config_root / ".github").exists()


@pytest.mark.parametrize("failure_after", [0, 3])
def test_a_failed_write_leaves_no_partial_file(config_root, monkeypatch, failure_after):
    config = load_config(config_root)
    calls = {"n": 0}
    real_replace = generate.os.replace

    def flaky(src, dst):
        if calls["n"] == failure_after:
            raise OSError("disk full")
        calls["n"] += 1
        real_replace(src, dst)

    monkeypatch.setattr(generate.os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        generate.write(config, config_root)
    written = [p for p in config_root.rglob("*") if p.is_file() and p.suffix in {".yml", ".tmp"}
               and any(part in {".azure-pipelines", ".github"} for part in p.parts)]
    assert len(written) == failure_after  # whole files only, no temp left behind
    for path in written:
        assert path.read_text(encoding="utf-8") == generate.render_all(config)[
            path.relative_to(config_root).as_posix()]
