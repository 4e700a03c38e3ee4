"""The factory's configuration: config/*.json plus each model's data, batch and realtime configs."""

from mlops.config._fields import ConfigError, Problem
from mlops.config.loader import (
    DEFAULT_INFRA_ENV,
    DEPLOY_ENVIRONMENT,
    INFRA_FILE,
    MODEL_FILE,
    REQUIRED_ENVIRONMENTS,
    load_config,
    selected_infra_env,
)
from mlops.config.model import (
    DEPLOYMENT_KEYS,
    BatchConfig,
    DataConfig,
    Dataset,
    FactoryConfig,
    InfraConfig,
    ModelEnvConfig,
    RealtimeConfig,
)

__all__ = [
    "BatchConfig", "ConfigError", "DataConfig", "Dataset", "DEFAULT_INFRA_ENV",
    "DEPLOY_ENVIRONMENT", "DEPLOYMENT_KEYS", "FactoryConfig",
    "INFRA_FILE", "InfraConfig", "MODEL_FILE", "ModelEnvConfig", "Problem", "REQUIRED_ENVIRONMENTS",
    "RealtimeConfig", "load_config", "selected_infra_env",
]
