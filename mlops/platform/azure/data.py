"""Azure ML data assets (uri_folder) versioned by content: the version is a hash of the folder's
files, so the same content is the same version and registering it again uploads nothing."""

from __future__ import annotations

from pathlib import Path

from mlops.config import Dataset, ModelEnvConfig
from mlops.errors import FactoryError
from mlops.paths import resolve
from mlops.pipeline.hashing import hash_tree, tree_files
from mlops.platform.azure.client import AzureClient, AzureNotFound, connect, log
from mlops.platform.local.data import VERSION_LENGTH, generate
from mlops.records import DataAsset, Workspace

# Same hash and length as the local platform: one folder has one version on both platforms.


def content_hash(folder: Path) -> str:
    return hash_tree(folder)


def local_folder(dataset: Dataset) -> Path:
    return resolve(dataset.path)


def has_local_data(dataset: Dataset) -> bool:
    folder = local_folder(dataset)
    return folder.is_dir() and bool(tree_files(folder))


def asset_uri(name: str, version: str) -> str:
    return f"azureml:{name}:{version}"


def _register_one(client: AzureClient, entry: ModelEnvConfig, dataset: Dataset) -> DataAsset:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    folder = local_folder(dataset)
    if folder.exists() and not folder.is_dir():
        raise FactoryError(f"{entry.data.file}: DATA_PATH {dataset.path} of {dataset.name} "
                           "is a file; expected a folder of data files")
    if not has_local_data(dataset):  # the model's generator fills it, as on the local platform
        generate(entry, dataset, folder)
    full_hash = content_hash(folder)
    version = full_hash[:VERSION_LENGTH]
    try:
        client.data.get(name=dataset.name, version=version)
        log(f"  data {dataset.name}:{version} ({dataset.purpose}) already registered")
        created = False
    except AzureNotFound:
        log(f"  data {dataset.name}:{version} ({dataset.purpose}) uploading {folder}")
        client.data.create_or_update(Data(
            name=dataset.name, version=version, type=AssetTypes.URI_FOLDER, path=str(folder),
            description=dataset.description,
            tags={"purpose": dataset.purpose, "content_sha256": full_hash}))
        created = True
    return DataAsset(name=dataset.name, version=version, purpose=dataset.purpose,
                     uri=asset_uri(dataset.name, version), created=created)


def register_data(workspace: Workspace, entry: ModelEnvConfig, *,
                  client: AzureClient | None = None) -> list[DataAsset]:
    """Register every dataset of the entry's data config; unchanged content is not re-uploaded."""
    client = client or connect(workspace)
    log(f"registering data for {entry.model} ({entry.env}) in {workspace.name}")
    return [_register_one(client, entry, dataset) for dataset in entry.data.datasets]


def resolve_asset(client: AzureClient, entry: ModelEnvConfig, purpose: str) -> str:
    """``azureml:<name>:<version>`` of a purpose's data: the version of the local folder's content
    when it is here (it must be registered), else the latest registered version."""
    dataset = entry.data.by_purpose(purpose)
    if has_local_data(dataset):
        version = content_hash(local_folder(dataset))[:VERSION_LENGTH]
        try:
            client.data.get(name=dataset.name, version=version)
        except AzureNotFound:
            raise FactoryError(f"data asset {dataset.name}:{version} ({purpose} of {entry.model}) "
                               f"is not registered; run `nox -s register_data -- {entry.model} "
                               "--target azure`") from None
        return asset_uri(dataset.name, version)
    try:
        latest = client.data.get(name=dataset.name, label="latest")
    except AzureNotFound:
        raise FactoryError(f"no data asset {dataset.name} ({purpose} of {entry.model}) in the "
                           f"workspace and no local data at {dataset.path}; run "
                           f"`nox -s register_data -- {entry.model} --target azure`") from None
    return asset_uri(dataset.name, str(latest.version))
