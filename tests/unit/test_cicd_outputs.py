"""Values a session hands back to Azure DevOps (logging commands) and GitHub (output and summary
files), and nothing outside CI."""

from __future__ import annotations

from mlops.cicd import outputs


def test_azure_devops_gets_output_variables_and_an_uploaded_summary(tmp_path):
    said: list[str] = []
    env = {"TF_BUILD": "True", "AGENT_TEMPDIRECTORY": str(tmp_path)}

    outputs.publish({"MODEL_VERSION": "7", "GATE_DECISION": "registered"}, env, said.append)
    written = outputs.summary("### gate\n", "nyc_taxi_gate", env, said.append)

    assert said[:2] == ["##vso[task.setvariable variable=MODEL_VERSION;isOutput=true]7",
                        "##vso[task.setvariable variable=GATE_DECISION;isOutput=true]registered"]
    assert said[2] == f"##vso[task.uploadsummary]{tmp_path / 'nyc_taxi_gate.md'}"
    assert written.read_text() == "### gate\n"


def test_github_gets_lower_case_outputs_and_the_step_summary(tmp_path):
    out, summary = tmp_path / "out", tmp_path / "summary"
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    said: list[str] = []

    outputs.publish({"MODEL_VERSION": "7", "FINISHED": "true"}, env, said.append)
    outputs.summary("### gate", "x", env, said.append)

    assert out.read_text() == "model_version=7\nfinished=true\n"
    assert summary.read_text() == "### gate\n"
    assert said == []  # no Azure DevOps logging commands on GitHub


def test_a_value_with_line_breaks_cannot_inject_another_variable(tmp_path):
    out = tmp_path / "out"
    said: list[str] = []
    hostile = "v7\nfinished=true\r\n##vso[task.setvariable variable=X]y"

    outputs.publish({"MODEL_VERSION": hostile}, {"GITHUB_OUTPUT": str(out), "TF_BUILD": "1"},
                    said.append)

    assert out.read_text().splitlines() == [
        "model_version=v7 finished=true ##vso[task.setvariable variable=X]y"]
    # One line: the agent reads one logging command per line, so the rest is the value.
    assert said == ["##vso[task.setvariable variable=MODEL_VERSION;isOutput=true]v7 "
                    "finished=true ##vso[task.setvariable variable=X]y"]


def test_outside_ci_nothing_is_published(tmp_path, monkeypatch):
    said: list[str] = []
    outputs.publish({"MODEL_VERSION": "7"}, {}, said.append)
    assert outputs.summary("### gate", "x", {}, said.append) is None
    assert said == [] and list(tmp_path.iterdir()) == []
