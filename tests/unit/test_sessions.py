"""The session table (mlops/sessions.py) is the one list of commands: the CLI offers exactly
its factory sessions, the README shows exactly its table, and every `nox -s` a generated CI
pipeline runs is one of its sessions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mlops import cli
from mlops.cicd.generate import render_all
from mlops.config import load_config
from mlops.infra.docs import write_docs
from mlops.sessions import BY_NAME, SERIAL_MARK, SESSIONS, TEST_WORKERS, markdown, suite_runs

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_offers_every_factory_session_and_nothing_else():
    parser = cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse
    assert commands == {s.command for s in SESSIONS if s.runner == "factory"}
    for command in commands:
        assert (ROOT / "mlops" / "commands" / f"{cli.COMMANDS[command].name}.py").is_file()


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert markdown() in readme
    assert write_docs(ROOT, check=True) == [], "run `nox -s docs`"
    listed = re.findall(r"^\| `(\w+)` \|", readme.split("<!-- end generated:sessions")[0], re.M)
    assert listed == [s.name for s in SESSIONS]


def test_ci_pipelines_call_only_declared_sessions():
    files = render_all(load_config(ROOT))
    called = {name for text in files.values() for name in re.findall(r"nox -s (\w+)", text)}
    assert called, "the generated pipelines call no session?"
    assert called <= set(BY_NAME), f"unknown sessions in CI: {sorted(called - set(BY_NAME))}"


def test_every_requirement_is_a_declared_session():
    for session in SESSIONS:
        assert set(session.requires) <= set(BY_NAME), session.name


def test_the_suite_runs_in_parallel_then_its_serial_modules_alone():
    """`nox -s tests`: every test runs exactly once, the `serial` ones alone after the others;
    the marker is the one pyproject registers (pytest runs with --strict-markers)."""
    import tomllib

    parallel, serial = suite_runs([])
    assert parallel[:2] == ["-n", str(TEST_WORKERS)] and "--dist" in parallel
    assert parallel[parallel.index("-m") + 1] == f"not {SERIAL_MARK}"
    assert serial[:2] == ["-m", SERIAL_MARK]
    assert "--no-loadscope-reorder" in parallel  # modules go out as tests/conftest.py sorts them
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]["markers"]
    assert any(m.startswith(f"{SERIAL_MARK}:") for m in markers)
    assert "pytest-xdist" in (ROOT / "pyproject.toml").read_text()
    # arguments given run once, as given
    assert suite_runs(["-k", "front", "-x"]) == [["-k", "front", "-x"]]


def _collected(*paths: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *paths],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_modules_with_slow_tests_are_collected_first_and_unit_modules_last():
    """tests/conftest.py orders whole modules (slow, then integration, then unit), each keeping
    its own order, so that the parallel run starts its longest modules first."""
    given = ["tests/unit/test_sessions.py", "tests/integration/test_kept_server.py",
             "tests/integration/test_pr_build.py"]
    ids = _collected(*given)
    assert list(dict.fromkeys(i.split("::")[0] for i in ids)) == [given[2], given[1], given[0]]
    for module in given:
        assert [i for i in ids if i.startswith(f"{module}::")] == _collected(module)
