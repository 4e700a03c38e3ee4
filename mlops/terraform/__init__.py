"""Our Terraform driver (in the style of hashicorp/terraform-exec): one method per command,
typed errors carrying Terraform's diagnostics, -json event streams rendered as progress."""

from mlops.terraform.errors import (
    TerraformError,
    TerraformLockError,
    TerraformStateError,
    TerraformTimeout,
)
from mlops.terraform.runner import CommandResult, Terraform, subprocess_runner

__all__ = ["CommandResult", "Terraform", "TerraformError", "TerraformLockError",
           "TerraformStateError", "TerraformTimeout", "subprocess_runner"]
