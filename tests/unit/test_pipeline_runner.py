"""Runner input binding checks that fail before anything runs, and the python shim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops.pipeline.loader import load_pipeline
from mlops.pipeline.runner import PipelineInputError, RunSettings, _python_shim, run_pipeline

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_pipeline" / "pipeline.yml"


def settings(tmp_path: Path) -> RunSettings:
    return RunSettings(runs_root=tmp_path / "runs", experiment="e", display_name="d",
                       tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", log=lambda line: None)


def test_unknown_pipeline_input_override_names_the_declared_ones(tmp_path):
    with pytest.raises(PipelineInputError, match=r"declares no input\(s\) colour .*raw_data"):
        run_pipeline(load_pipeline(FIXTURE), settings(tmp_path), {"colour": "red"})


def test_missing_data_folder_fails_before_any_run_is_created(tmp_path):
    with pytest.raises(PipelineInputError,
                       match=r"job 'make': input 'raw_data': data path .*nowhere does not exist"):
        run_pipeline(load_pipeline(FIXTURE), settings(tmp_path),
                     {"raw_data": str(tmp_path / "nowhere")})
    assert not (tmp_path / "mlflow.db").exists()


def test_azure_asset_reference_is_rejected_locally(tmp_path):
    with pytest.raises(PipelineInputError, match="azureml:taxi@latest is an Azure ML asset"):
        run_pipeline(load_pipeline(FIXTURE), settings(tmp_path), {"raw_data": "azureml:taxi@latest"})


def test_required_value_missing(tmp_path):
    with pytest.raises(PipelineInputError,
                       match="job 'make': input 'raw_data': pipeline input 'raw_data' has no value"):
        run_pipeline(load_pipeline(FIXTURE), settings(tmp_path), {"raw_data": None})


def test_python_shim_runs_this_interpreter_with_its_environment(tmp_path):
    shim = _python_shim(tmp_path, sys.executable)
    out = subprocess.run([str(shim / "python"), "-c", "import sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == sys.prefix
    assert _python_shim(tmp_path, sys.executable) == shim  # idempotent
