"""Azure data assets: versioned by content, uploaded only when that content is new."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from azure.ai.ml.entities import Data

from mlops.errors import FactoryError
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace, fixture_entry, not_found  # noqa: E402


def _fill(root: Path) -> None:
    for purpose, rows in (("pr_data", 3), ("training_data", 10), ("batch_test_data", 2)):
        folder = root / purpose
        folder.mkdir(parents=True)
        (folder / "green.csv").write_text("a,b\n" + "1,2\n" * rows)


@pytest.fixture
def fake(monkeypatch) -> FakeMLClient:
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    return fake


def test_version_follows_content_not_location_and_matches_the_local_platform(tmp_path):
    from mlops.platform.local import data as local_data

    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "x.csv").write_text("a\n1\n")
    assert data.content_hash(one) == data.content_hash(two)
    assert data.VERSION_LENGTH == local_data.VERSION_LENGTH

    (two / "sub" / "x.csv").write_text("a\n2\n")
    assert data.content_hash(one) != data.content_hash(two)
    (two / "sub" / "x.csv").write_text("a\n1\n")
    (two / "sub" / "x.csv").rename(two / "sub" / "y.csv")  # same bytes, other file name
    assert data.content_hash(one) != data.content_hash(two)


def test_new_content_is_uploaded_as_a_uri_folder_versioned_by_its_hash(tmp_path, fake):
    _fill(tmp_path)
    entry = fixture_entry("pr", tmp_path)
    fake.data.get.side_effect = not_found

    assets = data.register_data(azure_workspace(), entry)

    assert [a.purpose for a in assets] == ["pr_data", "training_data", "batch_test_data"]
    assert all(a.created for a in assets)
    sent = [c.args[0] for c in fake.data.create_or_update.call_args_list]
    assert all(isinstance(d, Data) and d.type == "uri_folder" for d in sent)
    pr = sent[0]
    expected = data.content_hash(tmp_path / "pr_data")
    assert pr.name == "nyc_taxi_pr" and pr.version == expected[:data.VERSION_LENGTH]
    assert Path(pr.path) == tmp_path / "pr_data"
    assert pr.tags == {"purpose": "pr_data", "content_sha256": expected}
    assert assets[0].uri == f"azureml:nyc_taxi_pr:{pr.version}"


def test_known_content_is_not_uploaded_again(tmp_path, fake):
    _fill(tmp_path)
    entry = fixture_entry("pr", tmp_path)

    assets = data.register_data(azure_workspace(), entry)  # get() finds every version

    assert not any(a.created for a in assets)
    fake.data.create_or_update.assert_not_called()
    version = data.content_hash(tmp_path / "training_data")[:data.VERSION_LENGTH]
    fake.data.get.assert_any_call(name="nyc_taxi_training", version=version)


def test_an_empty_data_folder_is_filled_by_the_models_generator(tmp_path, fake):
    from mlops.testkit.kit import write_plugin

    model_dir = write_plugin(tmp_path / "mlops" / "toy", "regression", ["x"], "y")
    (model_dir / "src" / "generate_data.py").write_text(
        "from pathlib import Path\n\n\ndef generate(folder, rows, seed):\n"
        "    return [Path(folder, 'generated.csv').write_text('x,y\\n1,2\\n') and "
        "Path(folder, 'generated.csv')]\n")
    data_root = model_dir / "data"  # the model's own data folder: generation is allowed there
    _fill(data_root)
    for f in (data_root / "pr_data").iterdir():
        f.unlink()
    fake.data.get.side_effect = not_found

    assets = data.register_data(azure_workspace(), fixture_entry("pr", data_root, model_dir))

    generated = data_root / "pr_data" / "generated.csv"
    assert generated.read_text() == "x,y\n1,2\n"  # the plugin's generator wrote it
    assert assets[0].version == data.content_hash(generated.parent)[:data.VERSION_LENGTH]


def test_a_data_path_that_is_a_file_fails_naming_the_config(tmp_path, fake):
    _fill(tmp_path)
    for f in (tmp_path / "pr_data").iterdir():
        f.unlink()
    (tmp_path / "pr_data").rmdir()
    (tmp_path / "pr_data").write_text("not a folder")
    with pytest.raises(FactoryError, match=r"data_config\.json: DATA_PATH .* is a file"):
        data.register_data(azure_workspace(), fixture_entry("pr", tmp_path))
    fake.data.create_or_update.assert_not_called()


def test_resolve_uses_local_content_version_and_requires_it_registered(tmp_path):
    _fill(tmp_path)
    fake = FakeMLClient()
    client = azure_client.AzureClient(fake, "ws")
    entry = fixture_entry("dev", tmp_path)
    version = data.content_hash(tmp_path / "training_data")[:data.VERSION_LENGTH]

    assert data.resolve_asset(client, entry, "training_data") == \
        f"azureml:nyc_taxi_training:{version}"

    fake.data.get.side_effect = not_found
    with pytest.raises(FactoryError, match="not registered.*register_data -- nyc_taxi"):
        data.resolve_asset(client, entry, "training_data")


def test_resolve_without_local_data_takes_the_latest_registered_version(tmp_path):
    fake = FakeMLClient()
    fake.data.get.return_value = Data(name="nyc_taxi_training", version="abc123", path="x")
    client = azure_client.AzureClient(fake, "ws")

    uri = data.resolve_asset(client, fixture_entry("dev", tmp_path), "training_data")

    assert uri == "azureml:nyc_taxi_training:abc123"
    fake.data.get.assert_called_once_with(name="nyc_taxi_training", label="latest")


def test_the_azure_platform_binds_register_data_to_this_module(tmp_path, fake):
    from mlops.platform import platform_for

    _fill(tmp_path)
    platform = platform_for(azure_workspace())

    assets = platform.register_data(fixture_entry("pr", tmp_path))

    assert [a.name for a in assets] == ["nyc_taxi_pr", "nyc_taxi_training", "nyc_taxi_batch_test"]
    assert fake.data.get.call_count == 3
