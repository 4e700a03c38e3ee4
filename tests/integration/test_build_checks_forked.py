"""A build's unit tests (`python -m pytest`, the pr_build check) fork from the build's warm
interpreter, which has imported what the test files import: real pytest runs, real servers."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time

import pytest

from mlops.build import _CheckProcesses
from mlops.pipeline import kept
from mlops.pipeline.launch import check_preload
from mlops.pipeline.pool import START_ENV, StepPool
from mlops.pipeline.runner import step_base_env
from mlops.procinfo import start_time

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TESTS = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path

    import yaml  # module level: preloaded for the run


    def test_where():
        from azure.ai.ml import load_job  # in a function: a heavy library, preloaded too
        Path(os.environ["WHERE"]).write_text(json.dumps({
            "parent": os.getppid(), "threads": os.environ.get("OMP_NUM_THREADS"),
            "token": os.environ.get("CHECK_TOKEN")}))


    def test_fails_when_asked():
        assert os.environ.get("FAIL") != "1", "asked to fail"


    def test_sleeps_when_asked():
        if os.environ.get("SLEEP"):
            Path(os.environ["SLEEP"]).write_text(str(os.getpid()))
            time.sleep(120)
""")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(kept.KEEP_ENV, "0")  # a server of the build's own
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_probe.py").write_text(TESTS)
    return tests


def _pool(folder, tmp_path, ready: bool = True) -> StepPool:
    """A build's pool whose warm-up imported what the tests import (``ready``: waited for, as
    a kept server that has them gives it at once)."""
    pool = StepPool(max_nodes=2)
    pool.warm_up(sys.executable, step_base_env(2), tmp_path / "fs.log",
                 lambda: check_preload([folder]))
    if ready:
        pool.warmed_server()
    return pool


def _run(processes, folder, tmp_path, **env):
    return processes.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(folder)], cwd=tmp_path,
                         env={**os.environ, "WHERE": str(tmp_path / "where.json"), **env})


def test_the_unit_tests_fork_from_the_builds_warm_interpreter(folder, tmp_path):
    pool = _pool(folder, tmp_path)
    try:
        result = _run(_CheckProcesses(pool), folder, tmp_path, CHECK_TOKEN="t0k")
        server = pool.warmed_server()
        assert server is not None and {"pytest", "yaml", "azure.ai.ml"} <= server.loaded
        assert result.returncode == 0, result.stdout + result.stderr
        assert "3 passed" in result.stdout
        seen = json.loads((tmp_path / "where.json").read_text())
        assert seen["parent"] == server.process.pid  # forked, not a new interpreter
        assert seen["token"] == "t0k"  # its own environment...
        assert seen["threads"] == server.env["OMP_NUM_THREADS"]  # ...with a slot's threads
    finally:
        pool.close()


def test_a_failing_forked_test_fails_the_check_with_its_output(folder, tmp_path):
    pool = _pool(folder, tmp_path)
    try:
        result = _run(_CheckProcesses(pool), folder, tmp_path, FAIL="1")
    finally:
        pool.close()
    assert result.returncode == 1
    assert "asked to fail" in result.stdout and "1 failed, 2 passed" in result.stdout


def test_a_cancelled_build_stops_its_forked_tests(folder, tmp_path):
    pool = _pool(folder, tmp_path)
    processes = _CheckProcesses(pool)
    pid_file = tmp_path / "sleeping.pid"
    results = []
    runner = threading.Thread(target=lambda: results.append(
        _run(processes, folder, tmp_path, SLEEP=str(pid_file))))
    try:
        runner.start()
        deadline = time.monotonic() + 120
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the forked tests never started"
            time.sleep(0.05)
        started = time.monotonic()
        processes.stop()
        runner.join(30)
        assert not runner.is_alive() and time.monotonic() - started < 15
        assert results[0].returncode != 0
        pid = int(pid_file.read_text())
        assert start_time(pid) is None  # gone (or a zombie): stopped
    finally:
        pool.close()


def test_tests_do_not_wait_for_a_server_still_importing(folder, tmp_path):
    """The first build's server imports for seconds: its unit tests start anew at once."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "slowmod.py").write_text("import time\ntime.sleep(30)\n")
    pool = StepPool(max_nodes=2)
    pool.warm_up(sys.executable, {**step_base_env(2), "PYTHONPATH": str(slow)},
                 tmp_path / "fs.log", lambda: ["slowmod"])
    try:
        started = time.monotonic()
        result = _run(_CheckProcesses(pool), folder, tmp_path)
        assert time.monotonic() - started < 25
    finally:
        pool.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "where.json").read_text())["parent"] == os.getpid()


def test_without_a_warm_interpreter_the_tests_start_anew(folder, tmp_path, monkeypatch):
    monkeypatch.setenv(START_ENV, "spawn")
    pool = _pool(folder, tmp_path)
    try:
        assert pool.warmed_server() is None
        result = _run(_CheckProcesses(pool), folder, tmp_path)
    finally:
        pool.close()
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads((tmp_path / "where.json").read_text())
    assert seen["parent"] == os.getpid()
