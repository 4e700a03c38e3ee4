"""The task graph's shape: every session, what it requires, which ones only run on request."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nox.registry
import pytest

ROOT = Path(__file__).resolve().parents[2]

# session -> (requires, runs by default)
EXPECTED = {
    "check_config": ([], True),
    "lint": ([], True),
    "tests": ([], True),
    "bench": ([], False),
    "synth": (["check_config"], True),
    "plan": (["synth"], False),
    "apply": ([], False),
    "provision": (["plan"], False),
    "destroy": ([], False),
    "iac_scan": ([], True),
    "register_data": (["provision"], False),
    "pr_build": (["register_data"], False),
    "ci_build": (["register_data"], False),
    "deploy": (["provision"], False),
    "undeploy": ([], False),
    "invoke": ([], False),
    "endpoints": ([], False),
    "approve": ([], False),
    "pipelines": ([], False),
    "cancel_job": ([], False),
    "wait_job": ([], False),
    "gate": ([], False),
}


@pytest.fixture(scope="module")
def sessions():
    nox.registry._REGISTRY.clear()
    spec = importlib.util.spec_from_file_location("factory_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = dict(nox.registry.get())
    nox.registry._REGISTRY.clear()
    return found


def test_every_session_with_its_requires_and_default(sessions):
    shape = {name: (list(func.requires), func.default) for name, func in sessions.items()}
    assert shape == EXPECTED


def test_every_session_has_a_one_line_description(sessions):
    for name, func in sessions.items():
        doc = (func.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"session {name} needs a one-line docstring"


def test_nox_json_listing_shows_the_default_sessions():
    out = subprocess.run([sys.executable, "-m", "nox", "--json", "-l"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    listed = {s["session"]: s["description"] for s in json.loads(out)}
    assert set(listed) == {n for n, (_, default) in EXPECTED.items() if default}
    assert all(listed.values())


def test_unknown_model_fails_at_once_naming_known_models():
    result = subprocess.run([sys.executable, "-m", "nox", "-s", "check_config", "--", "no_such_model"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown model 'no_such_model'; known models: london_taxi, nyc_taxi" in \
        result.stdout + result.stderr
