"""Path filters in the YAML triggers' glob dialect.

config's PATH_FILTERS (and the definitions) use the branch-policy dialect, where 'mlops/nyc_taxi/*'
means everything below the folder; the Azure DevOps stack hands them to branch policies as they
are. In Azure Pipelines and GitHub Actions trigger paths '*' stops at '/', so a trailing '/*'
would miss mlops/nyc_taxi/src/train.py: it becomes '/**' there. Nothing else changes.
"""

from __future__ import annotations


def trigger_globs(path_filters: tuple[str, ...]) -> list[str]:
    return [f"{p[:-2]}/**" if p.endswith("/*") else p for p in path_filters]
