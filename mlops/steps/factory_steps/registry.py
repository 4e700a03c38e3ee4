"""Which registered version is the champion, and making a version the champion.

Locally the champion is the MLflow registry alias ``champion`` (models:/<name>@champion). Azure
ML's MLflow server implements no registry aliases (see tracking.azureml_mode), so there the
champion is the version carrying the tag CHAMPION_TAG=true; the factory sets that tag on both
platforms, and the alias too where aliases exist, so either way of asking agrees."""

from __future__ import annotations

from factory_steps.tracking import azureml_mode
from factory_steps.versions import CHAMPION_ALIAS, CHAMPION_TAG


def _tagged_champion(client, model_name: str):
    versions = client.search_model_versions(f"name='{model_name}'")
    tagged = [v for v in versions if (v.tags or {}).get(CHAMPION_TAG) == "true"]
    return max(tagged, key=lambda v: int(v.version)) if tagged else None


def champion(client, model_name: str):
    """The champion ModelVersion of ``model_name``, or None."""
    from mlflow.exceptions import MlflowException

    if azureml_mode():
        try:
            return _tagged_champion(client, model_name)
        except MlflowException:
            return None
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def champion_uri(model_name: str, version) -> str:
    """A models:/ URI of that exact version (works without aliases)."""
    return f"models:/{model_name}/{version.version}"


def make_champion(client, model_name: str, version: str, previous=None) -> None:
    """Tag ``version`` as champion, untag the previous one, and move the alias where aliases
    exist. The new tag is set first: a crash in between leaves two tagged versions, and the
    highest wins (see _tagged_champion), never none."""
    client.set_model_version_tag(model_name, version, CHAMPION_TAG, "true")
    if previous is not None and str(previous.version) != str(version):
        client.delete_model_version_tag(model_name, previous.version, CHAMPION_TAG)
    if not azureml_mode():
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
