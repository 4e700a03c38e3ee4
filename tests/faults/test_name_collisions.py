"""Issue 11, item 11: different branches collided into one registered model name after
sanitising ('release/1.0' and 'release/1-0'; all-non-ASCII -> 'unnamed'; long names cut at 255).
Sanitising that changes a name adds a short stable hash of the original, and a cut name ends
with a hash of the whole, so distinct branches keep distinct, valid Azure ML names."""

from __future__ import annotations

import re

import pytest

from mlops.config import load_config
from mlops.naming import MAX_NAME_LENGTH, run_names

AZURE_ML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")


@pytest.mark.parametrize("branches", [
    ("release/1.0", "release/1-0"),
    ("ветка", "分支"),
    ("feature/" + "x" * 300, "feature/" + "x" * 299 + "y"),
])
def test_distinct_branches_never_share_a_model_name(branches):
    entry = load_config().entry("nyc_taxi", "dev")
    names = [run_names(entry, branch=b, build_id="1").model_name for b in branches]
    assert names[0] != names[1], names
    for name in names:
        assert AZURE_ML_NAME.fullmatch(name) and len(name) <= MAX_NAME_LENGTH, name


def test_the_same_branch_always_gets_the_same_name():
    entry = load_config().entry("nyc_taxi", "dev")
    assert run_names(entry, branch="release/1.0", build_id="1").model_name == \
        run_names(entry, branch="release/1.0", build_id="2").model_name
