"""CI definitions generated from config and the task graph (Azure DevOps and GitHub Actions)."""
