from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mlops.config import load_config
from mlops.naming import current_branch, current_build_id, run_names, sanitize

AZURE_ML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")


@pytest.mark.parametrize("raw, expected", [
    ("feature/ABC-12_fix#3", "feature-ABC-12_fix-3-712397"),
    ("refs/heads/main", "refs-heads-main-f921bd"),
    ("main", "main"),
    ("feature-ABC-12_fix-3", "feature-ABC-12_fix-3"),  # already safe: unchanged
    ("--weird//name--", "weird-name-4a120e"),
    ("ünïcode branch", "n-code-branch-bd40a0"),
    ("###", "unnamed-56dc6d"),
])
def test_sanitize(raw, expected):
    assert sanitize(raw) == expected


@pytest.mark.parametrize("env, expected", [
    ({"BUILD_SOURCEBRANCHNAME": "feature/x", "GITHUB_HEAD_REF": "gh"}, "feature/x"),
    ({"GITHUB_HEAD_REF": "pr-branch", "GITHUB_REF_NAME": "12/merge"}, "pr-branch"),
    ({"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"}, "main"),
])
def test_branch_from_ci_variables(env, expected):
    assert current_branch(env) == expected


def test_branch_falls_back_to_git_then_local(tmp_path):
    assert current_branch({}, cwd=str(tmp_path)) == "local"  # not a git repo


def test_build_id_sources():
    assert current_build_id({"BUILD_BUILDID": "812", "GITHUB_RUN_ID": "9"}) == "812"
    assert current_build_id({"GITHUB_RUN_ID": "9"}) == "9"
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert current_build_id({}, now=now) == "local20260102030405"


def test_run_names_follow_the_seed_and_are_valid_azure_ml_names(config_root):
    entry = load_config(config_root).entry("nyc_taxi", "pr")
    names = run_names(entry, branch="feature/ABC-12_fix#3", build_id="4711")
    assert names.experiment_name == "nyc_taxi_experiment_pr_feature-ABC-12_fix-3-712397"
    assert names.display_name == "nyc_taxi_run_pr_4711"
    assert names.model_name == "nyc_taxi_model_pr_feature-ABC-12_fix-3-712397"
    for name in (names.experiment_name, names.display_name, names.model_name):
        assert AZURE_ML_NAME.fullmatch(name)


def test_long_branch_is_truncated_to_azure_limit(config_root):
    entry = load_config(config_root).entry("london_taxi", "dev")
    names = run_names(entry, branch="b" * 400, build_id="1")
    assert len(names.model_name) == 255 and AZURE_ML_NAME.fullmatch(names.model_name)
