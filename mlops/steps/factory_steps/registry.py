"""Which registered version is the champion, and making a version the champion.

The champion is the version carrying the tag CHAMPION_TAG=true, on both platforms; locally it
also carries the MLflow registry alias ``champion`` (models:/<name>@champion), which local
serving reads. Azure ML's MLflow server has no registry aliases and no model-version search
(neither is in its support matrix, see tracking.py), so there the champion is found with the
two registry reads it documents: get_registered_model (the newest version) and
get_model_version, newest first. The Azure platform (mlops/platform/azure/_assets.py) reads the
same tag through azure-ai-ml, so both ways of asking agree.

This module's constants are imported by the factory too: it imports nothing at module level
but this package's tracking module (relatively, so it loads staged and from mlops.steps).
"""

from __future__ import annotations

from factory_steps.registry_names import CHAMPION_ALIAS, CHAMPION_TAG
from factory_steps.tracking import azureml_mode

# "Not there" answers; anything else (an endpoint the server lacks, a network error) is raised:
# taken for "no champion", it would let a worse model become champion.
_ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST"})
_NO_ALIAS = _ABSENT | {"INVALID_PARAMETER_VALUE"}  # MLflow's answer for an unset alias


def _absent(exc, codes: frozenset[str] = _ABSENT) -> bool:
    return str(getattr(exc, "error_code", "")) in codes


def _tagged_champion(client, model_name: str):
    """The newest version tagged CHAMPION_TAG=true. The gate registers a version only when it
    becomes champion, so this is almost always the newest version: one or two reads."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if _absent(exc):
            return None
        raise
    newest = max((int(v.version) for v in registered.latest_versions or []), default=0)
    for number in range(newest, 0, -1):
        try:
            version = client.get_model_version(model_name, str(number))
        except MlflowException as exc:
            if _absent(exc):  # a deleted version
                continue
            raise
        if (version.tags or {}).get(CHAMPION_TAG) == "true":
            return version
    return None


def champion(client, model_name: str):
    """The champion ModelVersion of ``model_name``, or None when it has none."""
    from mlflow.exceptions import MlflowException

    if azureml_mode():
        return _tagged_champion(client, model_name)
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if _absent(exc, _NO_ALIAS):
            return None
        raise


def champion_uri(model_name: str, version) -> str:
    """A models:/ URI of that exact version (works without aliases)."""
    return f"models:/{model_name}/{version.version}"


def make_champion(client, model_name: str, version: str, previous=None) -> None:
    """Tag ``version`` as champion, untag the previous one, and move the alias where aliases
    exist. The new tag is set first: a crash in between leaves two tagged versions, and the
    newest wins (see _tagged_champion), never none."""
    client.set_model_version_tag(model_name, version, CHAMPION_TAG, "true")
    if previous is not None and str(previous.version) != str(version):
        client.delete_model_version_tag(model_name, previous.version, CHAMPION_TAG)
    if not azureml_mode():
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
