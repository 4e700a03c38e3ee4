"""new-model: scaffold a model plugin (see mlops/scaffold.py)."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig
from mlops.errors import FactoryError


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.scaffold import new_model

    if len(args.models) != 1:
        raise FactoryError("new_model takes one name: nox -s new_model -- NAME "
                           "[--task regression|classification] [--from MODEL]")
    model = new_model(config, args.models[0], args.task, args.source)
    root = config.root
    print(f"created {model.task} model {model.name}:")
    print(f"  {model.folder.relative_to(root)}/ (src, configs, sample-data, tests, README.md)")
    print(f"  config/model_config.json: {len(model.entries)} entries "
          f"({', '.join(e['ENV_NAME'] for e in model.entries)})")
    print(f"  endpoints: {model.online_endpoint} (online), {model.batch_endpoint} (batch)")
    print("  CI pipelines regenerated (.azure-pipelines/, .github/workflows/)")
    print(f"next: nox -s pr_build -- {model.name}")
    return 0
