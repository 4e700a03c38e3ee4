"""Effects outside a step's outputs: the registry witness, read from a real MLflow SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.pipeline.effects import RegistryEffect
from mlops.pipeline.tracking import registry_state


def registry(tmp_path: Path):
    """An MLflow store with model 'm': v1 from run r1, v2 from run r2; champion -> v1."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    runs = [client.create_run(experiment).info.run_id for _ in range(2)]
    client.create_registered_model("m")
    for run in runs:
        client.create_model_version("m", source=(tmp_path / run).as_uri(), run_id=run)
    client.set_registered_model_alias("m", "champion", "1")
    return uri, client, runs


def test_the_witness_names_aliases_and_the_versions_a_run_created(tmp_path):
    uri, client, (r1, r2) = registry(tmp_path)
    state = registry_state(uri, "m", r1)
    assert state == {"model": "m", "readable": True, "aliases": {"champion": ["1", r1]},
                     "created": ["1"]}
    assert registry_state(uri, "m", "another-run")["created"] == []
    assert registry_state(uri, "unknown", r1)["aliases"] == {}
    assert registry_state(f"sqlite:///{tmp_path}/absent.db", "m", r1) == \
        {"model": "m", "readable": True, "aliases": {}, "created": []}


def test_the_effect_holds_until_the_registry_changes(tmp_path):
    uri, client, (r1, r2) = registry(tmp_path)
    effect = RegistryEffect(uri)
    recorded = effect.observe({"model_name": "m"}, r1)
    assert effect.differs(recorded, effect.observe({"model_name": "m"}, r1)) is None

    client.set_registered_model_alias("m", "champion", "2")
    why = effect.differs(recorded, effect.observe({"model_name": "m"}, r1))
    assert why == f"alias 'champion' of m was v1 (run {r1[:12]}) when it decided and is v2 " \
                  f"(run {r2[:12]}) now"

    (tmp_path / "mlflow.db").unlink()  # the store recreated from nothing
    why = effect.differs(recorded, effect.observe({"model_name": "m"}, r1))
    assert why == "the registry no longer has m version(s) 1 that it registered"


@pytest.mark.parametrize(("recorded", "now", "reason"), [
    ({"readable": False, "why": "the step has no 'model_name' input"}, {"readable": True},
     "cannot be verified (the step has no 'model_name' input)"),
    ({"readable": True, "model": "m", "aliases": {}, "created": []},
     {"readable": True, "model": "m", "aliases": {"champion": ["1", "r"]}, "created": []},
     "alias 'champion' of m was unset when it decided and is v1 (run r) now"),
])
def test_unverifiable_or_new_aliases_never_pass(recorded, now, reason):
    assert reason in RegistryEffect("sqlite:///x").differs(recorded, now)


def test_a_step_without_a_model_name_input_is_never_trusted(tmp_path):
    effect = RegistryEffect(f"sqlite:///{tmp_path}/mlflow.db")
    state = effect.observe({}, "r1")
    assert "no 'model_name' input" in effect.differs(state, state)
