"""Names of the marks the factory puts on registered model versions: one home for the steps
(staged into every code folder as factory_steps/registry_names.py, like tasks.py) and for the
factory's own readers (endpoints, approval, clean-up, promotion). Standard library only."""

CHAMPION_ALIAS = "champion"  # MLflow registry alias, where the server implements aliases
CHAMPION_TAG = "factory.champion"  # "true" on the champion version, on every platform
DIGEST_TAG = "factory.model_digest"  # sha256 of the registered model's files
STAGE_TAG, PRODUCTION = "stage", "production"  # set by `nox -s approve`
