"""Promotion and lineage on the local platform, for real: two workspaces (dev and prod, each its
own SQLite MLflow store, artifact store, endpoint registry, keys and port range), a registered
sklearn model trained in dev under a pipeline-shaped run, real endpoints in both environments.

An unapproved champion is refused and prod stays exactly as it was; an approved one arrives in
prod as the same files (digest), with its lineage, as prod's champion, served on prod's own
ports with the same answers as dev; a copy whose files changed is refused; lineage shows the
whole chain in both environments, as text and as JSON."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops import lineage, promotion
from mlops.bench import _serving_model as fixture_model
from mlops.config import load_config
from mlops.errors import DigestMismatch, NotApproved
from mlops.naming import RunNames
from mlops.paths import local_workspace
from mlops.platform import platform_for
from mlops.platform.local.promotion import download
from mlops.registry_names import CHAMPION_TAG, DIGEST_TAG, model_digest
from mlops.serving.client import request
from mlops.serving.registry import EndpointRegistry
from mlops.serving.shutdown import stop_all

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
MODEL_NAME = "promo_model_dev_test"
NAMES = RunNames("exp", "run", MODEL_NAME, "test", "build-7", "c0ffee" * 6 + "c0ff")
DATA = ("nyc_taxi_training", "feedfacecafe")


def _pipeline_shaped(workspace, version: str) -> str:
    """Make the registering run look like the local runner's register step: a child of a
    pipeline run carrying the factory's tags, beside the other steps, with decision.json."""
    from mlflow import MlflowClient

    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    registered = client.get_model_version(MODEL_NAME, version)
    step = client.get_run(registered.run_id)
    data_folder = workspace.data_store / DATA[0] / DATA[1]
    parent = client.create_run(step.info.experiment_id, run_name="promo_run_dev_build-7", tags={
        "factory.model": "nyc_taxi", "factory.env": "dev", "factory.branch": "main",
        "factory.build_id": "build-7", "factory.git_commit": NAMES.commit,
        "factory.data": str(data_folder)})
    for index, name in enumerate(("prep", "train", "score")):  # they ran before register
        client.set_terminated(client.create_run(
            step.info.experiment_id, run_name=name,
            start_time=step.info.start_time - (3 - index) * 1000,
            tags={"mlflow.parentRunId": parent.info.run_id}).info.run_id)
    client.set_tag(step.info.run_id, "mlflow.parentRunId", parent.info.run_id)
    client.set_tag(step.info.run_id, "mlflow.runName", "register")
    client.log_dict(step.info.run_id, {
        "passed": True, "registered": True, "metric": "r2", "threshold": 0.8,
        "candidate": 0.93, "champion": 0.91, "model_version": version,
        "model_name": MODEL_NAME, "reason": "candidate r2 0.9300 beats the champion's 0.9100"},
        "decision.json")
    client.set_terminated(parent.info.run_id)
    return parent.info.run_id


def _register(workspace, tmp: Path, slope: float) -> str:
    """Train, register as champion and record its digest, as the register step does."""
    from mlflow import MlflowClient

    version = fixture_model.train_and_register(workspace, MODEL_NAME, slope=slope)
    files = download(workspace, MODEL_NAME, version, tmp / f"v{version}-{uuid.uuid4().hex[:6]}")
    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    client.set_model_version_tag(MODEL_NAME, version, DIGEST_TAG, model_digest(files))
    client.set_model_version_tag(MODEL_NAME, version, CHAMPION_TAG, "true")
    return version


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """dev with a champion trained there and served; prod empty. Endpoints stopped after."""
    tmp = tmp_path_factory.mktemp("promotion")
    config = load_config()
    dev = local_workspace(config.infra_env("dev"), tmp / "dev")
    prod = local_workspace(config.infra_env("prod"), tmp / "prod")
    for workspace in (dev, prod):
        (workspace.root / "mlflow").mkdir(parents=True)
        workspace.artifact_root.mkdir(parents=True)
    version = _register(dev, tmp, slope=2.5)
    run_id = _pipeline_shaped(dev, version)
    sample = fixture_model.write_sample_request(tmp / "sample-request.json", rows=3)
    fixture_model.write_batch_files(tmp / "batch", files=2, rows_per_file=5)
    base = config.entry("nyc_taxi", "dev")  # its serving code is what both environments run
    suffix = uuid.uuid4().hex[:6]
    entry = replace(base, realtime=replace(base.realtime, endpoint_name=f"p-online-{suffix}",
                                           test_request_path=sample),
                    batch=replace(base.batch, endpoint_name=f"p-batch-{suffix}"))
    # the config the promotion reads: nyc_taxi's dev entry names these endpoints
    config = replace(config, entries={**config.entries, ("nyc_taxi", "dev"): entry})
    platforms = {"dev": platform_for(dev), "prod": platform_for(prod)}
    platforms["dev"].deploy(entry, NAMES)
    try:
        yield dict(config=config, dev=dev, prod=prod, entry=entry, version=version,
                   run_id=run_id, sample=sample, tmp=tmp, platforms=platforms)
    finally:
        for workspace in (dev, prod):
            platform_for(workspace).undeploy(entry)
            stop_all(EndpointRegistry(workspace.endpoint_registry))  # and any leftover process


def _promote(envs, version=None, asked=None):
    """mlops.promotion.promote with the two fixture workspaces standing in for provisioned
    ones; ``asked`` records each time the target is asked for (locally: provisioned)."""
    asked = [] if asked is None else asked

    def read_workspace(config, target, *, env=None, layout=None):
        return envs[env]

    def get_platform(target, config, env=None):
        asked.append(env)
        return envs["platforms"][env]

    import mlops.infra
    import mlops.platform

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlops.infra, "read_workspace", read_workspace)
        patch.setattr(mlops.platform, "get_platform", get_platform)
        patch.setattr("mlops.naming.run_names", lambda entry: NAMES)
        result = promotion.promote(
            envs["config"], "nyc_taxi", source_env="dev", target_env="prod", target="local",
            version=version, promoted_by="bob", build_id="cd-9",
            now=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), say=lambda line: None)
    return result, asked


def _prod_state(envs):
    """Everything a promotion could change in prod: registered versions with their tags and
    aliases, and the endpoint records."""
    from mlflow import MlflowClient

    prod = envs["prod"]
    client = MlflowClient(prod.mlflow_tracking_uri, prod.mlflow_registry_uri)
    versions = sorted((v.version, tuple(sorted(v.tags.items())), tuple(v.aliases))
                      for v in client.search_model_versions(f"name='{MODEL_NAME}'"))
    registry = EndpointRegistry(prod.endpoint_registry)
    records = {n: registry.read(n) for n in registry.names()}
    return versions, records


def _post(info, key, body):
    reply = request(info.scoring_uri, body, key=key, timeout=60)
    assert reply.status == 200, reply.text
    return reply.json()["predictions"]


def test_an_unapproved_champion_is_refused_and_prod_is_left_as_it_was(envs):
    before = _prod_state(envs)
    asked = []
    with pytest.raises(NotApproved) as refused:
        _promote(envs, asked=asked)
    message = str(refused.value)
    assert f"{MODEL_NAME} version {envs['version']} in dev is not approved" in message
    assert f"`nox -s approve -- nyc_taxi --version {envs['version']}`" in message
    assert refused.value.exit_code == 3
    assert asked == []  # the target was not even asked for (locally: not provisioned)
    assert _prod_state(envs) == before


def test_an_approved_version_is_promoted_served_and_traced(envs):
    dev, prod, entry = envs["dev"], envs["prod"], envs["entry"]
    approval = envs["platforms"]["dev"].approve(entry, NAMES, "ada", envs["version"])
    assert approval["version"] == envs["version"] and approval["stage"] == "production"

    result, asked = _promote(envs)
    assert asked == ["prod"]
    done = result.promotion
    assert (done.source.env, done.source.version, done.target_env) == ("dev", envs["version"],
                                                                       "prod")
    assert (done.source.run_id, done.source.data) == (envs["run_id"], (":".join(DATA),))
    assert (done.source.git_commit, done.source.build_id) == (NAMES.commit, "build-7")
    assert done.source.approval.approved_by == "ada" and done.promoted_by == "bob"

    from mlflow import MlflowClient

    prod_client = MlflowClient(prod.mlflow_tracking_uri, prod.mlflow_registry_uri)
    copy = prod_client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(copy.version) == done.target_version and copy.tags[CHAMPION_TAG] == "true"
    dev_digest = MlflowClient(dev.mlflow_tracking_uri).get_model_version(
        MODEL_NAME, envs["version"]).tags[DIGEST_TAG]
    served_files = download(prod, MODEL_NAME, copy.version, envs["tmp"] / "served-copy")
    assert copy.tags[DIGEST_TAG] == dev_digest == model_digest(served_files)
    assert copy.tags["factory.promotion.source.workspace"] == dev.name
    assert copy.tags["factory.promotion.source.data"] == ":".join(DATA)

    # prod serves it on its own ports: same model, same answers as dev
    keys = {}
    online = {}
    for env in ("dev", "prod"):
        infos = {i.kind: i for i in envs["platforms"][env].endpoints(show_keys=True)}
        online[env] = infos["online"]
        keys[env] = infos["online"].key
        first, last = envs["config"].infra_env(env).local_endpoint_ports
        port = int(online[env].scoring_uri.rsplit(":", 1)[1].split("/")[0])
        assert first <= port <= last, (env, port)
    assert online["prod"].model_version == str(copy.version)
    assert online["dev"].scoring_uri != online["prod"].scoring_uri
    assert keys["dev"] != keys["prod"]  # each environment has its own keys
    body = envs["sample"].read_bytes()
    assert _post(online["prod"], keys["prod"], body) == _post(online["dev"], keys["dev"], body)
    assert request(online["prod"].scoring_uri, body, key=keys["dev"], timeout=30).status == 401

    # a second promotion of the same version registers nothing new
    before = _prod_state(envs)
    again, _ = _promote(envs)
    assert again.promotion.target_version == done.target_version
    assert _prod_state(envs)[0] == before[0]


def test_lineage_shows_the_chain_in_both_environments(envs):
    config = envs["config"]
    import mlops.infra

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlops.infra, "read_workspace",
                      lambda config, target, *, env=None, layout=None: envs[env])
        patch.setattr("mlops.naming.run_names", lambda entry: NAMES)
        found = lineage.collect(config, "nyc_taxi", "local")
        only_prod = lineage.collect(config, "nyc_taxi", "local", env="prod")
        by_version = lineage.collect(config, "nyc_taxi", "local", version=envs["version"])
    assert [item.env for item in found] == ["dev", "prod"]
    dev, prod = (item.lineage for item in found)
    assert dev.version == envs["version"] and dev.champion
    assert dev.data == (":".join(DATA),) and dev.run_id == envs["run_id"]
    assert (dev.build_id, dev.branch, dev.git_commit) == ("build-7", "main", NAMES.commit)
    assert [s.name for s in dev.steps] == ["prep", "train", "score", "register"]
    assert (dev.gate.metric, dev.gate.candidate, dev.gate.champion) == ("r2", 0.93, 0.91)
    assert dev.approval.approved_by == "ada"
    assert [(p.target_env, p.target_version) for p in dev.promoted_to] == \
        [("prod", prod.version)]
    assert {e.kind for e in dev.endpoints} == {"online", "batch"}
    assert prod.promoted_from.source.version == dev.version and prod.digest == dev.digest
    assert prod.champion and {e.kind for e in prod.endpoints} == {"online", "batch"}
    assert [item.env for item in only_prod] == ["prod"]
    assert [item.lineage.version for item in by_version] == [dev.version, prod.version]

    text = lineage.to_text("nyc_taxi", "local", found)
    dev_block, prod_block = text.split("\n\n")[1:3]
    assert dev_block.startswith(f"dev · workspace {envs['dev'].name} · {MODEL_NAME} version "
                                f"{dev.version} (champion)")
    for label in ("data", "run", "steps", "gate", "model", "approval", "promotions",
                  "endpoints"):
        assert f"\n  {label}" in dev_block, label
    assert "r2 candidate 0.9300 vs champion 0.9100" in dev_block
    assert f"to prod ({envs['prod'].name}) version {prod.version}" in dev_block
    assert f"promoted    from dev ({envs['dev'].name}) version {dev.version}" in prod_block
    assert "digest same as there" in prod_block
    doc = json.loads(lineage.to_json("nyc_taxi", "local", found))
    assert [e["env"] for e in doc["environments"]] == ["dev", "prod"]
    assert doc["environments"][1]["lineage"]["promoted_from"]["source"]["digest"] == dev.digest


def test_a_copy_whose_files_changed_is_refused(envs):
    """Tamper with the source version's files after registration: the digest check refuses
    the promotion, and prod keeps what it had."""
    from mlflow import MlflowClient

    dev = envs["dev"]
    version = _register(dev, envs["tmp"], slope=3.5)
    client = MlflowClient(dev.mlflow_tracking_uri, dev.mlflow_registry_uri)
    envs["platforms"]["dev"].approve(envs["entry"], NAMES, "ada", version)
    source = client.get_model_version_download_uri(MODEL_NAME, version)
    folder = Path(source.removeprefix("file://"))
    target = next(p for p in sorted(folder.rglob("*")) if p.name == "MLmodel")
    target.write_text(target.read_text() + "\n# changed after registration\n")
    before = _prod_state(envs)
    with pytest.raises(DigestMismatch, match="the source artifact .* has digest"):
        _promote(envs, version=version)
    assert _prod_state(envs) == before


def test_an_interrupted_promotion_is_finished_by_the_next_one(envs, monkeypatch):
    """Ctrl-C after the copy is registered but before it is checked and made champion: prod's
    champion is still the old one, and the next promotion checks and finishes that copy instead
    of registering a second one."""
    from mlflow import MlflowClient

    from mlops.platform.local import promotion as local_promotion

    dev, prod = envs["dev"], envs["prod"]
    version = _register(dev, envs["tmp"], slope=4.5)
    envs["platforms"]["dev"].approve(envs["entry"], NAMES, "ada", version)
    client = MlflowClient(prod.mlflow_tracking_uri, prod.mlflow_registry_uri)
    champion_before = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    checked = local_promotion.check_digest

    def interrupted(files, approved, what):
        if what == "the copy":
            raise KeyboardInterrupt
        checked(files, approved, what)

    monkeypatch.setattr(local_promotion, "check_digest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _promote(envs, version=version)
    assert client.get_model_version_by_alias(MODEL_NAME, "champion").version == champion_before
    monkeypatch.setattr(local_promotion, "check_digest", checked)

    result, _ = _promote(envs, version=version)
    copies = [v for v in client.search_model_versions(f"name='{MODEL_NAME}'")
              if v.tags.get("factory.promotion.source.version") == version]
    assert len(copies) == 1 and str(copies[0].version) == result.promotion.target_version
    assert copies[0].tags["factory.promotion.target_version"] == str(copies[0].version)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == \
        result.promotion.target_version
