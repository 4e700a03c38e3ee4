from __future__ import annotations

import pytest

from mlops.cli import UnknownModelError, build_parser, main, select_models


def test_select_models_defaults_to_all_and_keeps_order():
    assert select_models([], ["london_taxi", "nyc_taxi"]) == ["london_taxi", "nyc_taxi"]
    assert select_models(["nyc_taxi", "nyc_taxi"], ["london_taxi", "nyc_taxi"]) == ["nyc_taxi"]


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"unknown model 'x'; known models: a, b"):
        select_models(["x"], ["a", "b"])


def test_target_from_environment(monkeypatch):
    monkeypatch.setenv("FACTORY_TARGET", "azure")
    assert build_parser().parse_args(["check-config"]).target == "azure"
    assert build_parser().parse_args(["check-config", "--target", "local"]).target == "local"


def test_bad_target_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check-config", "--target", "gcp"])
    assert info.value.code == 2
    assert "invalid choice: 'gcp'" in capsys.readouterr().err


def test_cli_reports_unknown_model_without_traceback(capsys):
    assert main(["check-config", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: unknown model 'no_such_model'; known models: breast_cancer, london_taxi, nyc_taxi")


def test_cli_reports_config_errors(config_root, edit_json, monkeypatch, capsys):
    edit_json("config/model_config.json", lambda d: d["models"][0].pop("MODEL_BASE_NAME"))
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    assert main(["check-config"]) == 1
    assert "config/model_config.json: nyc_taxi/pr: MODEL_BASE_NAME: missing" in capsys.readouterr().err
