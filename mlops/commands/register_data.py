"""register-data: register each model's datasets (pr, training, batch test) as data assets,
versioned by content; an empty DATA_PATH folder is filled by the model's generator first."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.data_registration import register_model_data
    from mlops.platform import get_platform

    register_model_data(get_platform(args.target, config), config, args.models)
    return 0
