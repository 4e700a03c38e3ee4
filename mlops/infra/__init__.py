"""Infrastructure as code, end to end: synth (CDK Terrain app) -> plan -> apply, destroy, and
reading the provisioned workspace back from Terraform outputs. Each step lives in a module;
nothing here imports cdktn until a synth actually has to run."""

from mlops.infra.lifecycle import apply, destroy, plan, provision
from mlops.infra.outputs import read_workspace, workspace_for
from mlops.infra.synth import synth

__all__ = ["apply", "destroy", "plan", "provision", "read_workspace", "synth", "workspace_for"]
