"""The README's main command on a fresh copy of the repository: `nox -s ci_build` provisions,
builds, registers, deploys and smoke-tests every model (two regressors and the classifier) on
the local platform; then the
endpoints are listed, invoked over real HTTP, and removed. On the same build (one ci_build for
the module): approval, promotion of nyc_taxi from dev to prod (refused before the approval,
without touching prod) and its lineage in both environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mlops._repo_copy import fresh_copy

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    root = fresh_copy(REPO, tmp_path_factory.mktemp("fresh") / "factory")
    env = dict(os.environ, FACTORY_ROOT=str(root), FACTORY_ENVS_DIR=str(REPO / ".nox"),
               FACTORY_TARGET="local")
    for var in ("BUILD_SOURCEBRANCHNAME", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        env.pop(var, None)

    def nox(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "nox", *args], cwd=root, env=env,
                                capture_output=True, text=True, timeout=1500)
        if check and result.returncode != 0:
            pytest.fail(f"nox {' '.join(args)} failed ({result.returncode}):\n"
                        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    build = nox("-s", "ci_build")  # the README's main command: every model
    try:
        yield root, nox, build
    finally:
        nox("-s", "undeploy", check=False)
        nox("-s", "undeploy", "--", "--env", "prod", check=False)


def test_ci_build_then_endpoints_invoke_and_auth(clone):
    root, nox, build = clone
    output = build.stdout + build.stderr
    assert "Session ci_build was successful" in output

    gates = {"nyc_taxi": "r2", "london_taxi": "r2", "breast_cancer": "roc_auc"}
    for model, metric in gates.items():
        report = json.loads((root / "reports" / f"{model}_dev.json").read_text())
        assert report["model"] == model and report["env"] == "dev"
        assert report["gate"]["passed"] and report["gate"]["registered"]
        assert report["gate"]["metric"] == metric  # each gated on its own task's metric
        assert report["metrics"][metric] >= (0.95 if metric == "roc_auc" else 0.8)
        assert [s["name"] for s in report["steps"]] == \
            ["prep", "transform", "train", "predict", "score", "register"]
        assert (root / "reports" / f"{model}_dev.md").is_file()

    listed = _json_block(nox("-s", "endpoints", "--", "--json").stdout)
    assert sorted((e["model"], e["kind"]) for e in listed) == [
        ("breast_cancer", "batch"), ("breast_cancer", "online"),
        ("london_taxi", "batch"), ("london_taxi", "online"),
        ("nyc_taxi", "batch"), ("nyc_taxi", "online")]
    assert all(e["model_version"] for e in listed)

    invoked = nox("-s", "invoke", "--", "nyc_taxi")
    assert "predictions" in invoked.stdout

    online = next(e for e in listed if e["model"] == "nyc_taxi" and e["kind"] == "online")
    assert online["scoring_uri"].startswith("http://127.0.0.1:")
    request = (root / "mlops/nyc_taxi/sample-data/sample-request.json").read_bytes()
    assert _post(online["scoring_uri"], request, key=None)[0] == 401
    keys = _json_block(nox("-s", "endpoints", "--", "nyc_taxi", "--json", "--show-keys").stdout)
    key = next(e["key"] for e in keys if e["kind"] == "online")
    status, body = _post(online["scoring_uri"], request, key=key)
    assert status == 200 and len(json.loads(body)["predictions"]) >= 1
    assert _post(online["scoring_uri"], b'{"input_data": 5}', key=key)[0] == 400

    # the classifier's endpoint answers each row's class and its probability per class
    listed = _json_block(nox("-s", "endpoints", "--", "breast_cancer", "--json",
                             "--show-keys").stdout)
    online = next(e for e in listed if e["kind"] == "online")
    sample = root / "mlops/breast_cancer/sample-data/sample-request.json"
    status, body = _post(online["scoring_uri"], sample.read_bytes(), key=online["key"])
    answer = json.loads(body)
    assert status == 200 and set(answer) == {"predictions", "probabilities", "classes"}
    rows = len(json.loads(sample.read_text())["input_data"]["data"])  # Azure ML's split form
    assert len(answer["predictions"]) == len(answer["probabilities"]) == rows
    assert all(p in answer["classes"] for p in answer["predictions"])
    assert all(len(ps) == len(answer["classes"]) and abs(sum(ps) - 1) < 1e-6
               for ps in answer["probabilities"])


def test_approve_promote_to_prod_and_lineage_in_both_environments(clone):
    """The done-when of promotion on a fresh clone: ci_build, approve, promote serves in prod
    the same artifact (digest) as dev's champion, with lineage tags; lineage shows both."""
    root, nox, _ = clone
    prod_state = root / ".factory" / "envs" / "prod"
    refused = nox("-s", "promote", "--", "nyc_taxi", "--from", "dev", "--to", "prod",
                  check=False)
    assert refused.returncode != 0
    assert "is not approved for production; nothing was promoted" in refused.stderr + \
        refused.stdout
    assert "nox -s approve -- nyc_taxi --version 1" in refused.stderr + refused.stdout
    assert not prod_state.exists()  # prod was not even provisioned

    nox("-s", "approve", "--", "nyc_taxi")
    promoted = nox("-s", "promote", "--", "nyc_taxi", "--from", "dev", "--to", "prod")
    assert "Session promote was successful" in promoted.stdout + promoted.stderr

    found = _json_object(nox("-s", "lineage", "--", "nyc_taxi", "--json").stdout)
    dev, prod = (e["lineage"] for e in found["environments"])
    assert [e["env"] for e in found["environments"]] == ["dev", "prod"]
    assert dev["digest"] and prod["digest"] == dev["digest"]  # the same artifact
    assert prod["promoted_from"]["source"]["version"] == dev["version"] and prod["champion"]
    assert prod["promoted_from"]["source"]["data"] == dev["data"] != []
    assert [s["name"] for s in dev["steps"]] == ["prep", "transform", "train", "predict",
                                                 "score", "register"]
    assert dev["gate"]["registered"] and dev["approval"]["stage"] == "production"
    assert [p["target_env"] for p in dev["promoted_to"]] == ["prod"]
    assert {e["kind"] for e in prod["endpoints"]} == {"online", "batch"}
    text = nox("-s", "lineage", "--", "nyc_taxi").stdout
    assert "dev · workspace mlw-mlops-mf-001" in text
    assert "prod · workspace mlw-mlops-mf-101" in text

    # prod answers on its own port with its own key, exactly as dev's champion does
    request = (root / "mlops/nyc_taxi/sample-data/sample-request.json").read_bytes()
    answers = {}
    for env in ("dev", "prod"):
        listed = _json_block(nox("-s", "endpoints", "--", "nyc_taxi", "--json", "--show-keys",
                                 "--env", env).stdout)
        online = next(e for e in listed if e["kind"] == "online")
        assert online["model_version"] == (dev if env == "dev" else prod)["version"]
        status, body = _post(online["scoring_uri"], request, key=online["key"])
        assert status == 200
        answers[env] = (online["scoring_uri"], json.loads(body)["predictions"])
    assert answers["dev"][0] != answers["prod"][0]
    assert answers["dev"][1] == answers["prod"][1]


def _json_object(stdout: str):
    """The JSON object printed by `lineage --json` (nox adds its own lines around it)."""
    start = stdout.index("{")
    return json.loads(stdout[start:stdout.rindex("}") + 1])


def _json_block(stdout: str):
    """The JSON list printed by `endpoints --json` (nox adds its own lines around it)."""
    start = stdout.index("[")
    return json.loads(stdout[start:stdout.rindex("]") + 1])


def _post(uri: str, body: bytes, key: str | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
