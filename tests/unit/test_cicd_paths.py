from __future__ import annotations

import re

from mlops.cicd._paths import trigger_globs


def _glob(pattern: str) -> re.Pattern[str]:
    """Trigger-glob semantics: '**' crosses folders, '*' does not."""
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts)
    return re.compile(regex)


def _policy(pattern: str) -> re.Pattern[str]:
    """Branch-policy semantics: '*' matches any characters, '/' included."""
    return re.compile(".*".join(map(re.escape, pattern.split("*"))))


FILTERS = ("mlops/nyc_taxi/*", "config/model_config.json", "mlops/*/configs/data_config.json")
PATHS = ["mlops/nyc_taxi/pipeline.yml", "mlops/nyc_taxi/src/prep/prep.py",
         "mlops/london_taxi/src/prep.py", "config/model_config.json", "config/infra_config.json",
         "mlops/nyc_taxi/configs/data_config.json", "mlops/steps/register.py"]


def test_folder_wildcards_become_recursive_and_nothing_else_changes():
    assert trigger_globs(FILTERS) == ["mlops/nyc_taxi/**", "config/model_config.json",
                                      "mlops/*/configs/data_config.json"]


def test_translated_globs_select_the_same_files_as_the_branch_policy():
    for path in PATHS:
        by_policy = any(_policy(f).fullmatch(path) for f in FILTERS)
        by_trigger = any(_glob(g).fullmatch(path) for g in trigger_globs(FILTERS))
        assert by_policy == by_trigger, path
    # and the untranslated filter would have missed nested files under glob semantics
    assert not _glob("mlops/nyc_taxi/*").fullmatch("mlops/nyc_taxi/src/prep/prep.py")
