"""Which models a change touches: `nox -s pr_build -- --changed [BASE]`.

A model is changed when a path of `git diff --name-only BASE...HEAD` (what the pull request
changes since it left BASE) matches its PATH_FILTERS or the factory paths every model depends on
(mlops.plugins.model_filters). Filters follow Azure DevOps branch policies' path filters, so the
selection is the one a build-validation policy makes: a leading '/' is optional, '*' matches any
run of characters including '/', '?' one character, and a filter starting with '!' excludes;
filters apply in order and the last one that matches a path decides.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from mlops.config import FactoryConfig
from mlops.config.loader import selected_infra_env
from mlops.errors import FactoryError
from mlops.plugins import model_filters

Runner = Callable[..., subprocess.CompletedProcess]


class ChangesError(FactoryError):
    """git could not say what changed."""


@cache
def _pattern(path_filter: str) -> re.Pattern[str]:
    body = path_filter.lstrip("!").lstrip("/")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in body)
    return re.compile(regex)


def matches(path: str, filters: Sequence[str]) -> bool:
    """Whether a repository path is selected by branch-policy path filters."""
    path = path.lstrip("/")
    selected = False
    for path_filter in filters:
        if _pattern(path_filter).fullmatch(path):
            selected = not path_filter.startswith("!")
    return selected




def default_base(config: FactoryConfig) -> str:
    """The development branch the pull requests target (origin's when there is one)."""
    return f"origin/{config.infra_env(selected_infra_env()).development_branch}"


def changed_files(root: Path, base: str, runner: Runner = subprocess.run) -> list[str]:
    """Paths changed between BASE's merge base and HEAD, plus uncommitted ones."""
    def git(*args: str) -> list[str]:
        out = runner(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise ChangesError(f"git {' '.join(args)} failed in {root}: "
                               f"{(out.stderr or out.stdout).strip()[:300]} (is {base!r} a "
                               f"branch or commit here? fetch it first)")
        return [line for line in out.stdout.splitlines() if line.strip()]

    committed = git("diff", "--name-only", f"{base}...HEAD")
    uncommitted = git("status", "--porcelain", "--untracked-files=all")
    local = [line[3:].split(" -> ")[-1].strip('"') for line in uncommitted]
    return sorted(set(committed) | set(local))


def changed_models(config: FactoryConfig, base: str | None = None, *,
                   runner: Runner = subprocess.run) -> tuple[list[str], list[str]]:
    """(models a change touches, in config order; the changed files)."""
    files = changed_files(config.root, base or default_base(config), runner)
    models = [m for m in config.model_names  # the pr entry's filters, as the PR pipeline's
              if any(matches(f, model_filters(config.entry(m, "pr").path_filters))
                     for f in files)]
    return models, files
