"""The test kit every model's tests use: a pytest plugin (loaded for the whole suite through
pyproject's `-p mlops.testkit`).

A model's code runs only from its staged code folder (mlops/staging.py: the factory's step files
plus the model's own), in tests exactly as on the local runner and on Azure ML:
``kit.run("step_prep.py", ...)`` runs a step as its own process there (forked from a warm
interpreter, as the runner starts steps: testkit/warm.py), ``kit.src("prep")`` imports
one of its modules from there (evicting same-named modules of another model first), and
``kit.generate(folder, purpose)`` runs the model's generator.

- ``kit``: for tests inside a model folder (mlops/<model>/tests/): that model's kit.
- ``model`` / ``model_kit``: the factory's contract tests (tests/models/) are parametrized by
  ``model`` over every configured model, or only those named with ``--factory-model NAME``
  (what `nox -s pr_build` does for the model it builds).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops.testkit.kit import ModelKit

OPTION = "--factory-model"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="append", default=[], metavar="MODEL",
                     help="contract tests (tests/models): only these models (repeatable)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    def names(argnames) -> list[str]:
        if isinstance(argnames, str):
            return [n.strip() for n in argnames.split(",")]
        return list(argnames)

    explicit = any("model" in names(mark.args[0])
                   for mark in metafunc.definition.iter_markers("parametrize"))
    if "model" in metafunc.fixturenames and not explicit:
        chosen = metafunc.config.getoption(OPTION)
        if not chosen:
            from mlops.config import load_config

            chosen = load_config().model_names
        metafunc.parametrize("model", chosen, scope="module")


@pytest.fixture(scope="session")
def _kits() -> dict[str, ModelKit]:
    return {}


def _kit(model_dir: Path, kits: dict[str, ModelKit], tmp_path_factory) -> ModelKit:
    if model_dir.name not in kits:
        kits[model_dir.name] = ModelKit.staged(model_dir, tmp_path_factory.mktemp("staged"))
    return kits[model_dir.name]


@pytest.fixture(scope="module")
def kit(request, _kits, tmp_path_factory) -> ModelKit:
    """The kit of the model whose folder holds this test module."""
    test_file = Path(str(request.path))
    for parent in test_file.parents:
        if (parent / "src" / "schema.py").is_file():
            return _kit(parent, _kits, tmp_path_factory)
    raise pytest.UsageError(f"{test_file}: `kit` is for tests inside a model folder "
                            f"(mlops/<model>/tests/); contract tests use `model_kit`")


@pytest.fixture(scope="module")
def model_kit(model: str, _kits, tmp_path_factory) -> ModelKit:
    from mlops.paths import repo_root

    return _kit(repo_root() / "mlops" / model, _kits, tmp_path_factory)


@pytest.fixture(scope="module")
def raw_pr(kit, tmp_path_factory) -> Path:
    """A small generated raw pr data set of the kit's model."""
    return kit.generate(tmp_path_factory.mktemp("raw"), "pr_data", rows=600, seed=7)


os.environ.setdefault("MPLBACKEND", "Agg")
