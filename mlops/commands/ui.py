"""ui: serve the MLflow UI over the local workspace's tracking and registry store (--env picks
the infrastructure environment) on 127.0.0.1 (a free port, or FACTORY_UI_PORT); print its URL and
the reports' links; run until Ctrl-C."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import read_workspace
    from mlops.paths import reports_dir
    from mlops.ui import serve

    return serve(read_workspace(config, args.target), reports_dir(config.root))
