"""plan / apply / provision over several stacks, with Terraform faked at the process boundary:
a stack that reads outputs of a stack with changes is planned only after that one is applied;
`apply` never applies a plan nobody saw, `provision` plans it on the way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.config import load_config
from mlops.infra import apply, lifecycle, plan, provision
from mlops.infra.layout import Layout
from mlops.terraform import CommandResult, Terraform

STACKS = ["azureml", "azure_devops"]
SHOW = {"resource_changes": [{"address": "azurerm_resource_group.rg",
                              "change": {"actions": ["create"]}}]}


class FakeTerraform:
    """Per stack: does plan find changes? Records every command as (stack, subcommand)."""

    def __init__(self, changes: dict[str, bool]):
        self.changes = changes
        self.calls: list[tuple[str, str]] = []

    def __call__(self, argv, *, cwd, env, on_line=None, timeout=None):
        stack, command = Path(cwd).name, argv[1]
        self.calls.append((stack, command))
        if command == "plan":
            out = next(a for a in argv if a.startswith("-out="))[5:]
            Path(out).write_text(f"plan of {stack}")
            return CommandResult(2 if self.changes[stack] else 0)
        if command == "show":
            return CommandResult(0, stdout=json.dumps(SHOW))
        return CommandResult(0)


@pytest.fixture
def fake(config_root, monkeypatch, azure_settings):
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", azure_settings.subscription_id)
    monkeypatch.setenv("AZDO_ORG_SERVICE_URL", azure_settings.organization_url)
    layout = Layout.of(config_root)
    terraform = FakeTerraform({"azureml": True, "azure_devops": False})

    def prepare(config, target, layout_):
        layout.synth_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"stacks": {"azureml": {"dependencies": []},
                               "azure_devops": {"dependencies": ["azureml"]}}}
        (layout.synth_dir / f"manifest-{target}.json").write_text(json.dumps(manifest))
        for stack in STACKS:
            layout.stack_dir(stack).mkdir(parents=True, exist_ok=True)
        return STACKS

    monkeypatch.setattr(lifecycle, "_prepare", prepare)
    monkeypatch.setattr(lifecycle, "terraform_for", lambda stack, layout_, **kw: Terraform(
        layout.stack_dir(stack), env={}, run=terraform, progress=None))
    return terraform, layout, load_config(config_root)


def test_dependent_stack_is_deferred_when_its_inputs_change(fake, capsys):
    terraform, layout, config = fake
    outcome = plan(config, "azure")
    assert terraform.calls == [("azureml", "plan"), ("azureml", "show")]
    assert [s.deferred_after for s in outcome.summaries] == [(), ("azureml",)]
    out = capsys.readouterr().out
    assert "azureml: 1 to add, 0 to change, 0 to replace, 0 to destroy" in out
    assert "azure_devops: planned after azureml is applied" in out
    markdown = layout.plan_markdown("azure").read_text()
    assert "| azure_devops | planned after azureml is applied | | | |" in markdown


def test_apply_applies_the_reviewed_stack_and_stops_before_the_deferred_one(fake, capsys):
    terraform, layout, config = fake
    plan(config, "azure")
    terraform.calls.clear()
    assert apply(config, "azure") is True
    assert terraform.calls == [("azureml", "apply")]
    assert "run `nox -s plan -- --target azure` again to review its plan" in \
        capsys.readouterr().out
    assert not layout.plan_record("azure").exists()  # applied once; the rest needs a new plan


def test_provision_plans_the_deferred_stack_after_applying_the_first(fake):
    terraform, _, config = fake
    terraform.changes["azure_devops"] = True
    assert provision(config, "azure") is True
    assert terraform.calls == [("azureml", "plan"), ("azureml", "show"), ("azureml", "apply"),
                               ("azure_devops", "plan"), ("azure_devops", "show"),
                               ("azure_devops", "apply")]


def test_nothing_changed_means_both_planned_nothing_applied(fake, capsys):
    terraform, _, config = fake
    terraform.changes["azureml"] = False
    assert provision(config, "azure") is False
    assert terraform.calls == [("azureml", "plan"), ("azure_devops", "plan")]
    assert "provision azure: no changes" in capsys.readouterr().out


def test_a_changed_config_makes_the_saved_plan_stale(fake, edit_json):
    _, _, config = fake
    plan(config, "azure")
    edit_json("config/infra_config.json", lambda d: d["dev"].update(CLUSTER_MAX_NODES=9))
    with pytest.raises(lifecycle.StalePlan, match="configuration or the stacks changed"):
        apply(load_config(config.root), "azure")


def test_a_replaced_plan_file_is_refused(fake):
    _, layout, config = fake
    plan(config, "azure")
    layout.plan_file("azureml").write_text("someone else's plan")
    with pytest.raises(lifecycle.StalePlan, match="missing or was replaced"):
        apply(config, "azure")


def test_destroy_azure_needs_delete_data(fake):
    from mlops.errors import FactoryError

    _, _, config = fake
    with pytest.raises(FactoryError, match="re-run with --delete-data to confirm"):
        lifecycle.destroy(config, "azure")
