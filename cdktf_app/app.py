"""Entry of the CDK Terrain app: ``synth(config, target, outdir)`` builds the stacks of a
target and writes them to ``outdir/stacks/<stack>/cdk.tf.json``.

local -> the local workspace stack; azure -> the Azure ML stack and the Azure DevOps stack
(imported only for azure: their provider bindings are the slow part of a synth).
"""

from __future__ import annotations

from pathlib import Path

from mlops.azure_names import AzureSettings
from mlops.config import FactoryConfig
from mlops.config.loader import selected_infra_env
from mlops.paths import state_dir

TARGETS = ("local", "azure")


def synth(config: FactoryConfig, target: str, outdir: Path, *,
          state_root: Path | None = None, settings: AzureSettings | None = None,
          env: str | None = None) -> list[str]:
    """Synthesise the stacks of ``env``'s (default: the selected infrastructure environment's)
    ``target`` into ``outdir``; returns the stack names in apply order. azure needs the
    subscription and organisation: ``settings``, else config or environment."""
    from cdktn import App

    infra = config.infra_env(env or selected_infra_env())
    app = App(outdir=str(outdir), skip_validation=False)
    if target == "local":
        from cdktf_app.local_stack import LocalWorkspaceStack

        stacks = [LocalWorkspaceStack(app, "local", infra=infra,
                                      state_root=state_root or state_dir(config.root))]
    elif target == "azure":
        from cdktf_app.azureml_stack import AzureMLStack
        from cdktf_app.devops_stack import AzureDevOpsStack

        settings = settings or AzureSettings.resolve(infra)
        azureml = AzureMLStack(app, "azureml", infra=infra, settings=settings, config=config)
        devops = AzureDevOpsStack(app, "azure_devops", infra=infra, config=config,
                                  azureml=azureml, settings=settings)
        stacks = [azureml, devops]
    else:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    app.synth()
    return [stack.node.id for stack in stacks]

