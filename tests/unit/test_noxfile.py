"""The task graph's shape: every session, what it requires, which ones only run on request."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nox.registry
import pytest

from mlops.sessions import BY_NAME, SESSIONS

ROOT = Path(__file__).resolve().parents[2]

# session -> (requires, runs by default)
@pytest.fixture(scope="module")
def sessions():
    nox.registry._REGISTRY.clear()
    spec = importlib.util.spec_from_file_location("factory_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = dict(nox.registry.get())
    nox.registry._REGISTRY.clear()
    return found


def test_the_noxfile_defines_exactly_the_declared_sessions(sessions):
    """mlops/sessions.py is the one home of the task graph; the noxfile only reads it."""
    shape = {name: (list(func.requires), func.default, func.__doc__)
             for name, func in sessions.items()}
    assert shape == {s.name: (list(s.requires), s.default, s.help) for s in SESSIONS}


def _closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        for required in BY_NAME[current].requires:
            if required not in seen:
                seen.add(required)
                todo.append(required)
    return seen


@pytest.mark.parametrize("model_session", ["register_data", "pr_build", "ci_build", "deploy"])
def test_model_sessions_never_change_infrastructure(model_session):
    """The provisioning boundary (issue 9): on Azure only the infrastructure pipeline plans and
    applies; a model session's requires-chain holds no plan, apply or provision."""
    assert not _closure(model_session) & {"plan", "apply", "provision", "destroy", "bootstrap"}


def test_every_session_has_a_one_line_description(sessions):
    for name, func in sessions.items():
        doc = (func.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"session {name} needs a one-line docstring"


def test_nox_json_listing_shows_the_default_sessions():
    out = subprocess.run([sys.executable, "-m", "nox", "--json", "-l"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    listed = {s["session"]: s["description"] for s in json.loads(out)}
    assert set(listed) == {s.name for s in SESSIONS if s.default}
    assert all(listed.values())


def test_unknown_model_fails_at_once_naming_known_models():
    result = subprocess.run([sys.executable, "-m", "nox", "-s", "check_config", "--", "no_such_model"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown model 'no_such_model'; known models: breast_cancer, london_taxi, nyc_taxi" in \
        result.stdout + result.stderr
