"""The generated infrastructure pipelines authenticate Terraform: their own privileged identity,
the subscription and the organisation (from config, else the variable group / repository
variables), and the federated token mapped by mlops.infra.credentials."""

from __future__ import annotations

import dataclasses

import yaml

from mlops.cicd import azure_devops, github
from mlops.cicd.definitions import pipeline_definitions
from mlops.config import load_config


def _infra_definition(config):
    return next(d for d in pipeline_definitions(config) if d.kind == "infra")


def _with_infra(config, **changes):
    infra = dataclasses.replace(config.infra_env("dev"), **changes)
    return dataclasses.replace(config, infra={**config.infra, "dev": infra})


def test_azure_devops_infra_pipeline_runs_as_the_infra_connection_with_its_settings():
    config = load_config()
    doc = yaml.safe_load(yaml.safe_dump(azure_devops.render(_infra_definition(config), config)))
    step = doc["jobs"][0]["steps"][-1]
    infra = config.infra_env("dev")
    assert step["inputs"]["azureSubscription"] == infra.infra_svc_connection
    assert step["inputs"]["azureSubscription"] != infra.azure_rm_svc_connection
    assert step["inputs"]["addSpnToEnvironment"] is True
    # config/infra_config.json gives neither: the variable group (written by the first apply)
    assert step["env"] == {"ARM_SUBSCRIPTION_ID": "$(ARM_SUBSCRIPTION_ID)",
                           "AZDO_ORG_SERVICE_URL": "$(AZDO_ORG_SERVICE_URL)"}
    configured = _with_infra(config, subscription_id="11111111-2222-3333-4444-555555555555",
                             devops_organization_url="https://dev.azure.com/contoso")
    step = azure_devops.render(_infra_definition(configured), configured)["jobs"][0]["steps"][-1]
    assert "env" not in step  # config wins: nothing for the pipeline to add


def test_github_infra_workflow_logs_in_as_the_infra_identity():
    config = load_config()
    doc = github.render(_infra_definition(config), config)
    job = doc["jobs"]["provision"]
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("azure/login"))
    assert login["with"]["client-id"] == "${{ secrets.AZURE_INFRA_CLIENT_ID }}"
    assert job["env"]["AZURE_CLIENT_ID"] == "${{ secrets.AZURE_INFRA_CLIENT_ID }}"
    assert job["env"]["ARM_SUBSCRIPTION_ID"] == "${{ secrets.AZURE_SUBSCRIPTION_ID }}"
    assert job["env"]["AZDO_ORG_SERVICE_URL"] == "${{ secrets.AZDO_ORG_SERVICE_URL }}"
    model = next(d for d in pipeline_definitions(config) if d.kind == "pr_model")
    for pr_job in github.render(model, config)["jobs"].values():  # submit, gate
        assert pr_job["env"]["AZURE_CLIENT_ID"] == "${{ secrets.AZURE_CLIENT_ID }}"
        assert "AZDO_ORG_SERVICE_URL" not in pr_job["env"]
