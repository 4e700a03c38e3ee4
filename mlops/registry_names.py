"""Names of the marks the factory puts on registered model versions: one home for the steps
(staged into every code folder as factory_steps/registry_names.py, like tasks.py) and for the
factory's own readers (endpoints, approval, clean-up, promotion). Standard library only."""

import hashlib

CHAMPION_ALIAS = "champion"  # MLflow registry alias, where the server implements aliases
CHAMPION_TAG = "factory.champion"  # "true" on the champion version, on every platform
DIGEST_TAG = "factory.model_digest"  # sha256 of the registered model's files
STAGE_TAG, PRODUCTION = "stage", "production"  # set by `nox -s approve`
# who approved, in which build, when (mlops.records.Approval)
APPROVED_BY_TAG, APPROVED_BUILD_TAG, APPROVED_AT_TAG = (
    "approved_by", "approved_build", "approved_at")


def model_digest(folder) -> str:
    """sha256 over the model folder's files (relative path + content, in path order): what
    DIGEST_TAG records at registration and a promotion checks on the copy."""
    from pathlib import Path

    folder = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()
