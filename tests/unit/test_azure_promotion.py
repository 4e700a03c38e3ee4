"""Promotion and lineage on Azure ML at the SDK boundary: three faked MLClients (dev workspace,
prod workspace, the shared registry), each operation group an autospec of the real azure-ai-ml
class, backed by small in-memory model stores that keep files as an upload would.

Azure behaviour encoded here, with its source:
- ``models.share`` copies a workspace model into a registry under a name and version, and
  refuses a version the registry already holds ("A model with this name and version already
  exists in registry", azure-ai-ml ModelOperations.create_or_update for a
  WorkspaceAssetReference); it carries no tags.
- a workspace deploys a registry model by its id azureml://registries/<registry>/models/<name>/
  versions/<version> (learn.microsoft.com, how-to-share-models-pipelines-across-workspaces-with-
  registries, "Deploy model from registry to online endpoint in workspace").
- Azure ML model versions cannot be deleted, only archived (ModelOperations has archive, no
  delete); registry asset tags are not updated in place (azure-sdk-for-python#30208), so the
  factory writes none there.
- ``models.download`` writes <download_path>/<name>/<folder>/... (ModelOperations.download).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.ai.ml.entities import BatchEndpoint, ManagedOnlineEndpoint, Model
from azure.ai.ml.exceptions import ValidationException
from azure.core.exceptions import ResourceNotFoundError

from mlops.errors import DigestMismatch, NotApproved
from mlops.naming import RunNames
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import endpoints, lineage, pipeline, promotion
from mlops.records import Approval, Promotion
from mlops.registry_names import CHAMPION_TAG, DIGEST_TAG, model_digest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace, fixture_entry  # noqa: E402
from pipeline_jobs import JOB, REGISTERED, finished  # noqa: E402

NAMES = RunNames("e", "d", "nyc_taxi_model_dev_develop", "develop", "4711", "ab" * 20)
REGISTRY = "mlr-mlops-mf-001-0a1b2c"
DEV = dataclasses.replace(azure_workspace(), azureml_registry=REGISTRY)
PROD = dataclasses.replace(DEV, name="mlw-mlops-mf-101", resource_group="rg-mlops-mf-101")
APPROVED = Approval("ada", "4711", "2026-01-02T03:04:05+00:00").to_tags()


class Store:
    """A model registry (workspace or registry) behind a fake's ``models`` group: versions by
    number, files kept as the service keeps an upload."""

    def __init__(self, fake: FakeMLClient, root: Path):
        self.fake, self.root, self.versions = fake, root, {}
        ops = fake.models
        ops.get.side_effect = self.get
        ops.list.side_effect = lambda name, **_: [self._copy(m) for m in self.versions.values()]
        ops.create_or_update.side_effect = self.create_or_update
        ops.download.side_effect = self.download
        ops.archive.side_effect = lambda name, version=None, **_: self.archived.append(version)
        self.archived: list[str] = []

    @staticmethod
    def _copy(model: Model) -> Model:
        return Model(name=model.name, version=model.version, path=model.path,
                     tags=dict(model.tags or {}), job_name=model.job_name)

    def add(self, model: Model, files: Path) -> Model:
        kept = self.root / str(model.version)
        shutil.copytree(files, kept / "model")
        self.versions[str(model.version)] = Model(
            name=model.name, version=str(model.version), path=f"azureml://{kept}",
            tags=dict(model.tags or {}), job_name=model.job_name)
        return self._copy(self.versions[str(model.version)])

    def get(self, name: str, version: str | None = None, **_) -> Model:
        if str(version) not in self.versions:
            raise ResourceNotFoundError(f"model {name}:{version} not found")
        return self._copy(self.versions[str(version)])

    def create_or_update(self, model: Model, **_) -> Model:
        version = str(model.version) if model.version else str(len(self.versions) + 1)
        if version in self.versions:  # a PUT of an existing version: tags only
            self.versions[version].tags = dict(model.tags or {})
            return self._copy(self.versions[version])
        return self.add(Model(name=model.name, version=version, tags=model.tags),
                        Path(model.path))  # an upload of the local folder

    def download(self, name: str, version: str, download_path: str = ".") -> None:
        source = self.root / str(version) / "model"
        shutil.copytree(source, Path(download_path) / name / "model")


def _model_files(folder: Path, weights: bytes = b"weights-v7") -> Path:
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  sklearn: {}\n")
    (folder / "model.pkl").write_bytes(weights)
    return folder


@pytest.fixture
def azure(monkeypatch, tmp_path):
    """dev (champion v7 trained by pipeline job JOB), prod (empty), the registry (empty)."""
    monkeypatch.delenv("FACTORY_ROOT", raising=False)  # the repository's config and models
    for module in (pipeline, endpoints):  # downloads and staged code go here
        monkeypatch.setattr(module, "state_dir", lambda: tmp_path / "state")
    fakes = {DEV.name: FakeMLClient(), PROD.name: FakeMLClient(), REGISTRY: FakeMLClient()}
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fakes[workspace.name])
    monkeypatch.setattr(azure_client, "_registry_ml_client",
                        lambda workspace: fakes[workspace.azureml_registry])
    stores = {name: Store(fake, tmp_path / name) for name, fake in fakes.items()}
    files = _model_files(tmp_path / "trained")
    dev = stores[DEV.name]
    dev.add(Model(name=NAMES.model_name, version="7", job_name="child_register",
                  tags={CHAMPION_TAG: "true", DIGEST_TAG: model_digest(files),
                        "gate.r2": "0.93"}), files)

    def share(name, version, *, share_with_name, share_with_version, registry_name):
        assert registry_name == REGISTRY
        registry = stores[registry_name]
        if str(share_with_version) in registry.versions:
            raise ValidationException(
                message="A model with this name and version already exists in registry",
                no_personal_data_message="exists", target="model", error_category="UserError")
        registry.add(Model(name=share_with_name, version=share_with_version),
                     dev.root / str(version) / "model")  # share sets no tags

    fakes[DEV.name].models.share.side_effect = share
    # the training job is read only where a test says so (jobs past retention are gone)
    fakes[DEV.name].jobs.get.side_effect = ResourceNotFoundError("job not found")
    entry = fixture_entry("dev", tmp_path / "data")
    return SimpleNamespace(fakes=fakes, stores=stores, entry=entry, files=files, tmp=tmp_path)


def _approve(azure) -> None:
    azure.stores[DEV.name].versions["7"].tags.update(APPROVED)


def _promotion(approved) -> Promotion:
    return Promotion(approved, "prod", PROD.name, "", "bob", "2026-03-04T05:06:07+00:00", "cd-9")


def test_an_unapproved_champion_is_refused_before_prod_or_the_registry_is_called(azure):
    with pytest.raises(NotApproved, match=r"version 7 in dev is not approved for production; "
                                          r"nothing was promoted.*`nox -s approve -- nyc_taxi "
                                          r"--version 7`"):
        promotion.approved(DEV, "dev", azure.entry, NAMES)
    assert azure.fakes[PROD.name].calls() == [] and azure.fakes[REGISTRY].calls() == []


def test_the_approved_version_carries_its_training_job_lineage(azure):
    _approve(azure)
    dev = azure.fakes[DEV.name]
    finished(dev, REGISTERED)  # the pipeline job JOB and its steps
    parent = dev.jobs.get.side_effect
    dev.jobs.get.side_effect = lambda name: (
        SimpleNamespace(name=name, parent_job_name=JOB, tags={}) if name == "child_register"
        else parent(name))
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    assert (approved.version, approved.run_id, approved.build_id) == ("7", JOB, "977")
    assert approved.data == ("nyc_taxi_training:feedfacecafebeef",)
    assert approved.digest == model_digest(azure.files)
    assert approved.approval.approved_by == "ada"


def test_promotion_shares_checks_registers_and_prod_deploys_from_the_registry(azure):
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    done = promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))

    registry_id = f"azureml://registries/{REGISTRY}/models/{NAMES.model_name}/versions/7"
    azure.fakes[DEV.name].models.share.assert_called_once_with(
        name=NAMES.model_name, version="7", registry_name=REGISTRY,
        share_with_name=NAMES.model_name, share_with_version="7")
    assert azure.fakes[REGISTRY].calls() == ["models.get", "models.download"]  # no tag writes
    prod_store = azure.stores[PROD.name]
    assert done.target_version == "1" and done.registry_model == registry_id
    copy = prod_store.versions["1"]
    assert copy.tags[CHAMPION_TAG] == "true" and copy.tags[DIGEST_TAG] == approved.digest
    assert Promotion.from_tags(copy.tags) == done  # the lineage lives on the prod copy
    assert model_digest(prod_store.root / "1" / "model") == approved.digest

    prod = azure.fakes[PROD.name]  # prod's deployments serve the registry asset
    prod.online_endpoints.get.side_effect = [
        ResourceNotFoundError("none"), ManagedOnlineEndpoint(name="nyc-taxi-online", traffic={})]
    prod.online_deployments.list.return_value = []
    prod.batch_endpoints.get.side_effect = [ResourceNotFoundError("none"),
                                            BatchEndpoint(name="nyc-taxi-batch")]
    prod.online_endpoints.invoke.return_value = '{"predictions": [12.5]}'
    sample = azure.tmp / "sample.json"
    sample.write_text('{"input_data": [{"trip_distance": 1.5}]}')
    entry = dataclasses.replace(azure.entry, realtime=dataclasses.replace(
        azure.entry.realtime, test_request_path=sample))
    online, batch = endpoints.deploy(PROD, entry, NAMES)
    assert prod.online_deployments.begin_create_or_update.call_args.args[0].model == registry_id
    assert prod.batch_deployments.begin_create_or_update.call_args.args[0].model == registry_id
    sent = prod.online_deployments.begin_create_or_update.call_args.args[0]
    assert endpoints.deployed_model(sent) == (NAMES.model_name, "1")  # prod's own version
    assert online.model_version == batch.model_version == "1"


def test_a_registry_copy_with_other_files_changes_nothing_in_prod(azure):
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    registry = azure.stores[REGISTRY]
    registry.add(Model(name=NAMES.model_name, version="7"),
                 _model_files(azure.tmp / "other", b"someone else's weights"))
    with pytest.raises(DigestMismatch, match=r"the registry's copy .* has digest"):
        promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))
    azure.fakes[DEV.name].models.share.assert_not_called()  # already there: not shared again
    assert azure.stores[PROD.name].versions == {}
    assert "models.create_or_update" not in azure.fakes[PROD.name].calls()


def test_a_copy_that_arrives_changed_is_archived_not_kept(azure, monkeypatch):
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    prod = azure.stores[PROD.name]
    upload = prod.create_or_update

    def corrupting(model, **kwargs):
        stored = upload(model, **kwargs)
        (prod.root / str(stored.version) / "model" / "model.pkl").write_bytes(b"bit rot")
        return stored

    azure.fakes[PROD.name].models.create_or_update.side_effect = corrupting
    with pytest.raises(DigestMismatch, match=r"the copy in mlw-mlops-mf-101"):
        promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))
    assert prod.archived == ["1"]
    assert CHAMPION_TAG not in prod.versions["1"].tags


def test_a_second_promotion_reuses_the_copy_and_shares_nothing(azure):
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    first = promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))
    azure.fakes[DEV.name].models.share.reset_mock()
    again = promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))
    assert again == first and list(azure.stores[PROD.name].versions) == ["1"]
    azure.fakes[DEV.name].models.share.assert_not_called()


def test_a_copy_left_unfinished_is_checked_and_finished_not_uploaded_again(azure):
    """Interrupted after the upload, before the copy became champion: the next promotion
    finds it by its lineage tags, checks its files, and finishes it."""
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    unfinished = {k: v for k, v in _promotion(approved).to_tags().items()
                  if not k.endswith("target_version")}
    azure.stores[PROD.name].add(Model(name=NAMES.model_name, version="1",
                                      tags={**unfinished, DIGEST_TAG: approved.digest}),
                                azure.files)
    assert lineage.promotions(PROD, NAMES.model_name) == []  # not a promotion yet
    done = promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))
    assert done.target_version == "1" and list(azure.stores[PROD.name].versions) == ["1"]
    azure.fakes[DEV.name].models.share.assert_not_called()
    tags = azure.stores[PROD.name].versions["1"].tags
    assert tags[CHAMPION_TAG] == "true" and tags["factory.promotion.target_version"] == "1"
    assert lineage.promotions(PROD, NAMES.model_name) == [dataclasses.replace(
        done, registry_model=None)]


def test_environments_without_a_shared_registry_are_refused(azure):
    _approve(azure)
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    lone = dataclasses.replace(PROD, azureml_registry=None)
    with pytest.raises(Exception, match="share no Azure ML registry"):
        promotion.promote(DEV, lone, azure.entry, approved, _promotion(approved))
    assert azure.fakes[PROD.name].calls() == []


def test_lineage_reads_the_training_job_in_dev_and_the_promotion_in_prod(azure):
    _approve(azure)
    dev = azure.fakes[DEV.name]
    finished(dev, REGISTERED)
    parent = dev.jobs.get.side_effect
    dev.jobs.get.side_effect = lambda name: (
        SimpleNamespace(name=name, parent_job_name=JOB, tags={}) if name == "child_register"
        else parent(name))
    approved = promotion.approved(DEV, "dev", azure.entry, NAMES)
    done = promotion.promote(DEV, PROD, azure.entry, approved, _promotion(approved))

    trained = lineage.lineage(DEV, "dev", azure.entry, NAMES)
    assert (trained.version, trained.champion, trained.run_id) == ("7", True, JOB)
    assert trained.data == ("nyc_taxi_training:feedfacecafebeef",)
    assert [s.name for s in trained.steps] == ["prep", "transform", "train", "predict", "score",
                                               "register"]
    assert (trained.gate.candidate, trained.gate.champion) == (0.93, 0.91)
    assert trained.approval.approved_by == "ada" and trained.build_id == "977"

    served = lineage.lineage(PROD, "prod", azure.entry, NAMES)
    assert served.promoted_from == done and served.digest == trained.digest
    assert lineage.promotions(PROD, NAMES.model_name) == [done]
    assert lineage.promotions(DEV, NAMES.model_name) == []
