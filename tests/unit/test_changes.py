"""--changed: the Azure DevOps branch-policy path-filter rule, and the selection from git."""

from __future__ import annotations

import subprocess

import pytest

from mlops.changes import ChangesError, changed_files, matches
from mlops.plugins import FACTORY_PATHS, model_filters


@pytest.mark.parametrize(("path", "filters", "expected"), [
    # '/WebApp/*' selects everything below the folder, at any depth
    ("mlops/nyc_taxi/src/prep.py", ["mlops/nyc_taxi/*"], True),
    ("mlops/nyc_taxi/src/prep.py", ["/mlops/nyc_taxi/*"], True),  # leading '/' optional
    ("mlops/nyc_taxi_v2/src/prep.py", ["mlops/nyc_taxi/*"], False),
    ("mlops/london_taxi/src/prep.py", ["mlops/nyc_taxi/*"], False),
    # '*.cs' selects the extension anywhere
    ("mlops/nyc_taxi/README.md", ["*.md"], True),
    # exclusions, in order: the last filter that matches decides
    ("mlops/nyc_taxi/README.md", ["mlops/nyc_taxi/*", "!*.md"], False),
    ("mlops/nyc_taxi/README.md", ["!*.md", "mlops/nyc_taxi/*"], True),
    ("config/model_config.json", ["config/model_config.json"], True),
    ("config/model_config.jsonx", ["config/model_config.json"], False),
    ("mlops/nyc_taxi/data.csv", ["mlops/nyc_taxi/data?csv"], True),
])
def test_branch_policy_path_filters(path, filters, expected):
    assert matches(path, filters) is expected


def test_a_model_follows_the_factory_code_its_steps_are_staged_with():
    filters = model_filters(("mlops/nyc_taxi/*",))
    assert filters[: len(FACTORY_PATHS)] == FACTORY_PATHS
    assert matches("mlops/steps/step_train.py", filters)
    assert matches("mlops/steps/factory_steps/metrics.py", filters)
    assert matches("mlops/tasks.py", filters)
    assert not matches("mlops/serving/front.py", filters)
    # a model can still exclude a factory path for itself: its own filters come last
    assert not matches("tests/models/test_contract.py", model_filters(("!tests/models/*",)))


def test_changed_files_are_the_merge_base_diff_plus_uncommitted(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "a.txt").write_text("a")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (tmp_path / "b.txt").write_text("b")
    git("add", "-A")
    git("commit", "-qm", "feature")
    (tmp_path / "c.txt").write_text("c")  # not committed yet
    git("checkout", "-q", "main")
    (tmp_path / "a.txt").write_text("a2")  # main moves on: not this branch's change
    git("commit", "-qam", "main moves")
    git("checkout", "-q", "feature")
    assert changed_files(tmp_path, "main") == ["b.txt", "c.txt"]
    with pytest.raises(ChangesError, match="no-such-branch"):
        changed_files(tmp_path, "no-such-branch")
