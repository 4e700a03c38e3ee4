"""synth skips when the inputs' content hash is unchanged, says so, and re-runs (naming the
changed input) when one changes. The CDK app is replaced by a stub: this checks the caching."""

from __future__ import annotations

import json

import pytest

import cdktf_app.app
from mlops.config import load_config
from mlops.infra.layout import Layout
from mlops.infra.synth import SynthError, synth


@pytest.fixture
def fake_app(monkeypatch):
    calls = []

    def fake_synth(config, target, outdir, *, state_root=None, settings=None):
        calls.append(target)
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
