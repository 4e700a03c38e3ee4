"""The contract every model plugin meets, checked for each configured model (or the ones named
with --factory-model): its generator, its prep and features, its staged pipeline YAML, its
sample request. A model folder's own tests check only what is its own."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from mlops.staging import BOUND_INPUTS, STEP_NAMES, STEPS
from mlops.tasks import task

_BINDING = re.compile(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
_PARENT = re.compile(r"^\$\{\{parent\.(?:inputs\.(\w+)|jobs\.(\w+)\.outputs\.(\w+))\}\}$")


@pytest.fixture(scope="module")
def raw(model_kit, tmp_path_factory):
    return model_kit.generate(tmp_path_factory.mktemp("raw"), "pr_data", rows=400, seed=3)


@pytest.fixture(scope="module")
def prepared(model_kit, raw):
    clean, counts = model_kit.src("prep").prepare(raw)
    return clean, counts


def test_the_generator_is_deterministic_per_seed(model_kit, tmp_path):
    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    a = files(model_kit.generate(tmp_path / "a", "pr_data", rows=200, seed=1))
    b = files(model_kit.generate(tmp_path / "b", "pr_data", rows=200, seed=1))
    c = files(model_kit.generate(tmp_path / "c", "pr_data", rows=200, seed=2))
    assert a and a == b
    assert a != c


def test_batch_data_is_model_input_rows(model_kit, tmp_path):
    folder = model_kit.generate(tmp_path / "batch", "batch_test_data", rows=60, seed=1)
    frames = [pd.read_csv(p) for p in sorted(folder.glob("*.csv"))]
    assert len(frames) >= 1
    combined = pd.concat(frames)
    assert len(combined) == 60
    assert list(combined.columns[:len(model_kit.plugin.features)]) == list(
        model_kit.plugin.features)


def test_prep_and_features_produce_the_declared_columns(model_kit, prepared):
    clean, counts = prepared
    assert len(clean) > 0 and isinstance(counts, dict)
    frame = model_kit.src("features").build_features(clean)
    plugin = model_kit.plugin
    assert list(frame.columns) == [*plugin.features, plugin.target]
    assert len(frame) == len(clean)
    features = frame[list(plugin.features)]
    assert not features.isna().any().any(), "features must have no missing values"
    assert all(pd.api.types.is_numeric_dtype(t) for t in features.dtypes), features.dtypes
    if plugin.task == "classification":
        assert frame[plugin.target].nunique() >= 2


def test_prep_step_writes_clean_rows_and_hands_off_its_counts(model_kit, raw, tmp_path):
    handoff = tmp_path / "metrics.jsonl"
    env = model_kit.env(FACTORY_STEP_METRICS=str(handoff))
    model_kit.run("step_prep.py", "--raw_data", raw, "--prep_data", tmp_path / "prep", env=env)
    model_kit.run("step_transform.py", "--clean_data", tmp_path / "prep",
                  "--transformed_data", tmp_path / "tr", env=env)
    transformed = pd.read_csv(tmp_path / "tr" / "transformed.csv")
    assert list(transformed.columns) == [*model_kit.plugin.features, model_kit.plugin.target]
    rows = [json.loads(line)["rows"] for line in handoff.read_text().splitlines()]
    assert rows == [len(pd.read_csv(tmp_path / "prep" / "clean.csv")), len(transformed)]


def test_an_empty_raw_file_fails_the_prep_step_naming_it(model_kit, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "empty.csv").write_text("")
    result = model_kit.run("step_prep.py", "--raw_data", raw, "--prep_data", tmp_path / "out",
                           check=False)
    assert result.returncode == 2
    assert re.search(r"^error: .*empty\.csv: column ", result.stderr, re.M), result.stderr
    assert not (tmp_path / "out" / "clean.csv").exists()


def _staged(model_kit, name):
    return yaml.safe_load((model_kit.staged.folder / name).read_text())


def test_the_staged_components_bind_only_declared_ports(model_kit):
    for step in STEPS:
        component = _staged(model_kit, f"components/{step.name}.yml")
        used = set(_BINDING.findall(component["command"]))
        declared = {("inputs", n) for n in component["inputs"]}
        declared |= {("outputs", n) for n in component["outputs"]}
        assert used == declared, step.name
        script = component["command"].split()[1]
        assert (model_kit.code / script).is_file(), script
        assert component["name"] == f"{model_kit.plugin.name}_{step.name}"
    register = _staged(model_kit, "components/register.yml")
    assert register["tags"] == {"factory.effect": "registry"}


def test_the_staged_pipeline_wires_every_step_in_order(model_kit):
    pipeline = _staged(model_kit, "pipeline.yml")
    assert list(pipeline["jobs"]) == list(STEP_NAMES)
    assert set(BOUND_INPUTS) <= set(pipeline["inputs"])
    kind = task(model_kit.plugin.task)
    assert pipeline["inputs"]["gate_metric"] in kind.metric_names
    for name, job in pipeline["jobs"].items():
        component = _staged(model_kit, f"components/{name}.yml")
        for port, binding in job["inputs"].items():
            assert port in component["inputs"], f"{name}.{port}"
            parent_input, source_job, source_port = _PARENT.match(binding).groups()
            if parent_input:
                assert parent_input in pipeline["inputs"]
                default = component["inputs"][port].get("default")
                if default is not None:
                    assert pipeline["inputs"][parent_input] == default, port
            else:
                assert STEP_NAMES.index(source_job) < STEP_NAMES.index(name)
                assert source_port in _staged(model_kit, f"components/{source_job}.yml")[
                    "outputs"]
        required = {p for p, spec in component["inputs"].items() if "default" not in spec}
        assert required <= set(job["inputs"]), f"{name}: unbound {required}"


def test_azure_ai_ml_loads_the_staged_pipeline_offline(model_kit):
    from azure.ai.ml import load_component, load_job
    from azure.ai.ml.entities import CommandComponent, PipelineJob

    for step in STEP_NAMES:
        component = load_component(model_kit.staged.folder / "components" / f"{step}.yml")
        assert isinstance(component, CommandComponent)
    job = load_job(model_kit.staged.pipeline)
    assert isinstance(job, PipelineJob)
    assert list(job.jobs) == list(STEP_NAMES)
    # default compute is set at submission (CLUSTER_NAME); everything else must validate
    job.settings.default_compute = "cpu-cluster"
    assert job._validate().passed, job._validate().error_messages
    for param in model_kit.plugin.params:
        assert job.jobs["train"].inputs[param]._data == f"${{{{parent.inputs.{param}}}}}"

