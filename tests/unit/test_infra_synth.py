"""synth skips when the inputs' content hash is unchanged, says so, and re-runs (naming the
changed input) when one changes. The CDK app is replaced by a stub: this checks the caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cdktf_app.app
from mlops.config import load_config
from mlops.infra.layout import Layout
from mlops.infra.synth import SynthError, synth


@pytest.fixture
def fake_app(monkeypatch):
    calls = []

    def fake_synth(config, target, outdir, *, state_root=None, settings=None, env=None):
        calls.append(target if env in (None, "dev") else f"{target}@{env}")
        stack = outdir / "stacks" / "local"
        stack.mkdir(parents=True)
        doc = {"resource": {"terraform_data": {"a": {}, "b": {}}}, "module": {"m": {}}}
        (stack / "cdk.tf.json").write_text(json.dumps(doc))
        (outdir / "manifest.json").write_text("{}")
        return ["local"]

    monkeypatch.setattr(cdktf_app.app, "synth", fake_synth)
    return calls


def test_second_synth_is_skipped_until_an_input_changes(config_root, monkeypatch, fake_app,
                                                        edit_json, capsys):
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    config = load_config(config_root)
    first = synth(config, "local")
    assert not first.skipped and fake_app == ["local"]
    assert [(s.name, s.resources, s.modules) for s in first.stacks] == [("local", 2, 1)]
    stack_file = Layout.of(config_root).stack_dir("local") / "cdk.tf.json"
    assert first.stacks[0].path == stack_file and stack_file.is_file()

    second = synth(config, "local")
    assert second.skipped and fake_app == ["local"]
    assert "inputs unchanged" in second.lines()[0] and "skipped" in second.lines()[0]
    assert second.lines()[1].startswith("  local: 2 resource(s), 1 module(s) -> ")

    edit_json("config/infra_config.json", lambda d: d["dev"].update(CLUSTER_MAX_NODES=5))
    third = synth(load_config(config_root), "local")
    assert not third.skipped and fake_app == ["local", "local"]
    assert "1 input(s) changed: " in capsys.readouterr().out
    assert synth(load_config(config_root), "local", force=True).skipped is False


def test_a_deleted_stack_file_forces_a_synth(config_root, monkeypatch, fake_app):
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    config = load_config(config_root)
    synth(config, "local")
    (Layout.of(config_root).stack_dir("local") / "cdk.tf.json").unlink()
    assert synth(config, "local").skipped is False


def test_app_failure_is_one_message_and_keeps_the_previous_synth(config_root, monkeypatch,
                                                                 fake_app):
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    config = load_config(config_root)
    synth(config, "local")

    def broken(*args, **kwargs):
        raise RuntimeError("construct id clash")

    monkeypatch.setattr(cdktf_app.app, "synth", broken)
    with pytest.raises(SynthError, match="synth local failed: RuntimeError: construct id clash"):
        synth(config, "local", force=True)
    layout = Layout.of(config_root)
    assert (layout.stack_dir("local") / "cdk.tf.json").is_file()
    assert not list(layout.synth_dir.glob(".tmp-*"))


def test_each_environment_synthesises_into_its_own_layout(config_root, monkeypatch, fake_app):
    """dev keeps .factory/; prod gets .factory/envs/prod/ (stacks, plans, state, locks): one
    environment's synth never replaces another's, and each is skipped on its own hash."""
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    config = load_config(config_root)
    dev, prod = Layout.of(config_root, "dev"), Layout.of(config_root, "prod")
    assert dev.root == config_root / ".factory"
    assert prod.root == config_root / ".factory" / "envs" / "prod"
    assert len({dev.local_state(), prod.local_state()}) == 2
    assert len({dev.lock_file("local"), prod.lock_file("local")}) == 2

    synth(config, "local", layout=dev)
    synth(config, "local", layout=prod)
    assert fake_app == ["local", "local@prod"]
    assert (dev.stack_dir("local") / "cdk.tf.json").is_file()
    assert (prod.stack_dir("local") / "cdk.tf.json").is_file()
    assert synth(config, "local", layout=dev).skipped
    assert synth(config, "local", layout=prod).skipped
    monkeypatch.setenv("FACTORY_INFRA_ENV", "prod")  # what --env prod sets
    assert Layout.of(config_root) == prod


def test_the_synth_key_covers_what_the_stacks_import_and_nothing_else(tmp_path):
    """The cache key is derived from the app's imports (read from source), not a kept list: a
    module reached only through another factory module counts, an unrelated one does not."""
    import cdktf_app
    from mlops.infra.synth import stack_sources

    app_dir = Path(next(iter(cdktf_app.__path__)))
    sources = {p.relative_to(app_dir.parent).as_posix() for p in stack_sources(app_dir)}
    assert {"cdktf_app/azureml_stack.py", "mlops/config/loader.py",
            "mlops/config/_fields.py", "mlops/identities.py"} <= sources
    assert not {"mlops/serving/front.py", "mlops/pipeline/runner.py", "mlops/build.py"} & sources

    # a new import in a copy of the app is followed, transitively
    copy = tmp_path / "cdktf_app"
    copy.mkdir()
    (copy / "__init__.py").write_text("")
    (copy / "app.py").write_text("from mlops.naming import run_names\n")
    (tmp_path / "mlops").mkdir()
    (tmp_path / "mlops" / "__init__.py").write_text("")
    (tmp_path / "mlops" / "naming.py").write_text("from mlops.extra import thing\n")
    (tmp_path / "mlops" / "extra.py").write_text("thing = 1\n")
    found = {p.relative_to(tmp_path).as_posix() for p in stack_sources(copy)}
    assert found == {"cdktf_app/__init__.py", "cdktf_app/app.py", "mlops/__init__.py",
                     "mlops/naming.py", "mlops/extra.py"}
