"""Every way the configuration can be wrong names the file, the entry and the key."""

from __future__ import annotations

import json

import pytest

from mlops.config import ConfigError, load_config


def _entry(data, model, env):
    return next(e for e in data["models"]
                if e["ML_MODEL_CONFIG_NAME"] == model and e["ENV_NAME"] == env)


def _messages(root) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(root)
    return [str(p) for p in info.value.problems]


def test_shipped_configuration_loads(config_root):
    config = load_config(config_root)
    assert config.model_names == ["breast_cancer", "london_taxi", "nyc_taxi"]
    assert config.entry("breast_cancer", "dev").task == "classification"
    assert config.entry("nyc_taxi", "dev").task == "regression"
    assert config.environments == ["dev", "pr"]
    entry = config.entry("nyc_taxi", "pr")
    assert entry.batch.endpoint_name == "nyc-taxi-batch"
    assert entry.realtime.endpoint_name == "nyc-taxi-online"
    assert entry.data.by_purpose("training_data").path == config_root / "mlops/nyc_taxi/data/training"
    assert config.infra_env("dev").workspace_name == "mlw-mlops-mf-001"


def test_missing_model_base_name_names_file_entry_and_key(config_root, edit_json):
    edit_json("config/model_config.json",
              lambda d: _entry(d, "nyc_taxi", "pr").pop("MODEL_BASE_NAME"))
    assert _messages(config_root) == [
        "config/model_config.json: nyc_taxi/pr: MODEL_BASE_NAME: missing (expected a non-empty string)"]


def test_batch_cluster_mismatch_names_both_files(config_root, edit_json):
    edit_json("mlops/nyc_taxi/configs/batch_config.json",
              lambda d: d.update(BATCH_CLUSTER_NAME="other-cluster"))
    (message,) = _messages(config_root)
    assert message.startswith("mlops/nyc_taxi/configs/batch_config.json: BATCH_CLUSTER_NAME:")
    assert "config/infra_config.json" in message
    assert "'batch-cluster'" in message and "'other-cluster'" in message


def test_all_problems_of_a_file_are_reported_at_once(config_root, edit_json):
    def break_infra(d):
        d["dev"]["VERSION"] = "1"
        d["dev"]["CLUSTER_MAX_NODES"] = "four"
        del d["dev"]["LOCATION"]
        d["dev"]["CLUSTR_SIZE"] = "typo"

    edit_json("config/infra_config.json", break_infra)
    messages = _messages(config_root)
    assert "config/infra_config.json: dev: VERSION: expected three digits, zero-padded " \
           "(e.g. \"001\"), found '1'" in messages
    assert any(m.startswith("config/infra_config.json: dev: CLUSTER_MAX_NODES: expected an integer "
                            "between 1 and 100, found a string") for m in messages)
    assert "config/infra_config.json: dev: LOCATION: missing " \
           "(expected an Azure region name such as \"westeurope\")" in messages
    assert any(m.startswith("config/infra_config.json: dev: CLUSTR_SIZE: unknown key") for m in messages)


@pytest.mark.parametrize("name, ok", [
    ("ab", False), ("abc", True), ("a" * 32, True), ("a" * 33, False), ("1abc", False),
    ("nyc_taxi", False), ("nyc-taxi-2", True), ("-abc", False),
])
def test_endpoint_names_follow_azure_ml_rules(config_root, edit_json, name, ok):
    edit_json("mlops/nyc_taxi/configs/realtime_config.json", lambda d: d.update(ENDPOINT_NAME=name))
    if ok:
        assert load_config(config_root).entry("nyc_taxi", "dev").realtime.endpoint_name == name
    else:
        (message,) = _messages(config_root)
        assert message.startswith("mlops/nyc_taxi/configs/realtime_config.json: ENDPOINT_NAME: "
                                  "expected 3-32 letters, digits and hyphens")


def test_endpoint_names_must_be_unique_across_files(config_root, edit_json):
    edit_json("mlops/london_taxi/configs/realtime_config.json",
              lambda d: d.update(ENDPOINT_NAME="nyc-taxi-online"))
    (message,) = _messages(config_root)
    assert "ENDPOINT_NAME: expected a unique endpoint name, found 'nyc-taxi-online'" in message
    assert "mlops/nyc_taxi/configs/realtime_config.json" in message


def test_every_model_needs_every_environment(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: d["models"].remove(_entry(d, "london_taxi", "dev")))
    assert _messages(config_root) == [
        "config/model_config.json: london_taxi/dev: missing entry: every model needs one for each "
        "environment (dev, pr)"]


def test_an_extra_environment_must_exist_for_every_model(config_root, edit_json):
    def add_test_env(d):
        extra = dict(_entry(d, "nyc_taxi", "dev"), ENV_NAME="test")
        d["models"].append(extra)

    edit_json("config/model_config.json", add_test_env)
    assert _messages(config_root) == [
        f"config/model_config.json: {model}/test: missing entry: every model needs one for each "
        "environment (dev, pr, test)" for model in ("breast_cancer", "london_taxi")]


def test_referenced_file_must_exist(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: _entry(d, "nyc_taxi", "dev").update(
        DATA_CONFIG_PATH="mlops/nyc_taxi/configs/nope.json"))
    (message,) = _messages(config_root)
    assert message.startswith("config/model_config.json: nyc_taxi/dev: DATA_CONFIG_PATH: expected an "
                              "existing path, found 'mlops/nyc_taxi/configs/nope.json'")


def test_invalid_json_names_the_file_and_position(config_root):
    (config_root / "mlops/london_taxi/configs/batch_config.json").write_text('{"ENDPOINT_NAME": }')
    messages = _messages(config_root)
    assert messages == ["mlops/london_taxi/configs/batch_config.json: not valid JSON: "
                        "Expecting value at line 1 column 19"]


def test_data_config_purposes_and_keys(config_root, edit_json):
    def break_data(d):
        d["datasets"][0]["DATA_PURPOSE"] = "training"
        del d["datasets"][1]["DATASET_DESC"]

    edit_json("mlops/nyc_taxi/configs/data_config.json", break_data)
    messages = _messages(config_root)
    assert "mlops/nyc_taxi/configs/data_config.json: nyc_taxi_pr: DATA_PURPOSE: expected one of " \
           "batch_test_data, pr_data, training_data, found 'training'" in messages
    assert "mlops/nyc_taxi/configs/data_config.json: nyc_taxi_training: DATASET_DESC: missing " \
           "(expected a non-empty string)" in messages


def test_data_path_may_be_absolute(config_root, edit_json, tmp_path):
    own = tmp_path / "my_data"
    edit_json("mlops/nyc_taxi/configs/data_config.json",
              lambda d: d["datasets"][1].update(DATA_PATH=str(own)))
    assert load_config(config_root).entry("nyc_taxi", "dev").data.by_purpose("training_data").path == own


def test_wrong_types_say_what_was_found(config_root, edit_json):
    edit_json("mlops/nyc_taxi/configs/batch_config.json",
              lambda d: d.update(MINI_BATCH_SIZE=True, MAX_RETRIES=-1))
    messages = _messages(config_root)
    assert "mlops/nyc_taxi/configs/batch_config.json: MINI_BATCH_SIZE: expected an integer >= 1, " \
           "found a boolean true" in messages
    assert "mlops/nyc_taxi/configs/batch_config.json: MAX_RETRIES: expected an integer between 0 " \
           "and 20, found -1" in messages


def test_duplicate_entry_and_bad_top_level(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: d["models"].append(_entry(d, "nyc_taxi", "pr")))
    assert _messages(config_root) == [
        "config/model_config.json: nyc_taxi/pr: duplicate entry: this model and environment "
        "appear more than once"]
    (config_root / "config/model_config.json").write_text(json.dumps([1, 2]))
    assert _messages(config_root) == [
        "config/model_config.json: models: expected a top-level object with a list under 'models', "
        "found a list"]


def test_unknown_infra_environment(config_root):
    with pytest.raises(ConfigError) as info:
        load_config(config_root, infra_env="qa")
    assert str(info.value.problems[0]) == ("config/infra_config.json: no infrastructure "
                                           "environment 'qa' (FACTORY_INFRA_ENV); found dev, prod")


def test_every_environment_is_a_workspace_of_its_own(config_root):
    config = load_config(config_root)
    dev, prod = config.infra_env("dev"), config.infra_env("prod")
    assert dev.workspace_name != prod.workspace_name
    assert prod.promote_from == "dev" and dev.promote_from is None
    assert dev.local_endpoint_ports[1] < prod.local_endpoint_ports[0]  # ports never overlap


def test_environments_must_not_share_a_workspace_name_or_ports(config_root, edit_json):
    def clash(data):
        data["prod"].update(VERSION=data["dev"]["VERSION"])
        del data["prod"]["LOCAL_ENDPOINT_PORTS"], data["dev"]["LOCAL_ENDPOINT_PORTS"]

    edit_json("config/infra_config.json", clash)
    assert _messages(config_root) == [
        "config/infra_config.json: prod: VERSION: expected a workspace name of its own: "
        "NAMESPACE, PROJECTCODE and VERSION give 'mlw-mlops-mf-001', the same as environment "
        "'dev'",
        "config/infra_config.json: prod: LOCAL_ENDPOINT_PORTS: expected ports of its own: "
        "20000-27999 overlaps dev's 20000-27999 (the default is 20000-27999; give each "
        "environment its own range)"]


@pytest.mark.parametrize("ports", ["24000-24100", "80-2000", "30000-20000", "ports"])
def test_a_bad_port_range_is_named(config_root, edit_json, ports):
    edit_json("config/infra_config.json", lambda d: d["prod"].update(LOCAL_ENDPOINT_PORTS=ports))
    (message,) = _messages(config_root)
    assert message.startswith("config/infra_config.json: prod: LOCAL_ENDPOINT_PORTS: expected a "
                              "port range \"FIRST-LAST\" within 1024-65535, at least 200 ports "
                              "wide")
    assert repr(ports) in message


@pytest.mark.parametrize("source, problem", [
    ("prod", "expected another environment of this file (dev), found 'prod'"),
    ("qa", "expected another environment of this file (dev), found 'qa'"),
])
def test_promote_from_names_another_environment(config_root, edit_json, source, problem):
    edit_json("config/infra_config.json", lambda d: d["prod"].update(PROMOTE_FROM=source))
    assert _messages(config_root) == [f"config/infra_config.json: prod: PROMOTE_FROM: {problem}"]


def test_promotions_never_go_round_in_a_circle(config_root, edit_json):
    edit_json("config/infra_config.json", lambda d: d["dev"].update(PROMOTE_FROM="prod"))
    messages = _messages(config_root)
    assert "config/infra_config.json: dev: PROMOTE_FROM: expected promotions to start " \
           "somewhere: dev <- prod <- dev goes round in a circle" in messages


def test_training_params_are_checked_against_the_models_estimator(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: _entry(d, "nyc_taxi", "dev").update(
        TRAINING_PARAMS={"max_iter": 120, "learning_rte": 0.2, "max_leaf_nodes": "many"}))
    assert _messages(config_root) == [
        "config/model_config.json: nyc_taxi/dev: TRAINING_PARAMS.learning_rte: unknown; expected "
        "one of l2_regularization, learning_rate, max_iter, max_leaf_nodes, min_samples_leaf",
        "config/model_config.json: nyc_taxi/dev: TRAINING_PARAMS.max_leaf_nodes: expected an "
        "integer like 15, found 'many'"]


def test_training_params_override_the_defaults_for_one_environment(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: _entry(d, "breast_cancer", "pr").update(
        TRAINING_PARAMS={"C": 2}))
    config = load_config(config_root)
    assert config.entry("breast_cancer", "pr").training_params == {"C": 2.0}
    assert config.entry("breast_cancer", "dev").training_params == {}

def test_azure_keys_are_optional_and_checked_all_at_once(config_root, edit_json):
    infra = load_config(config_root).infra_env("dev")
    assert infra.subscription_id is None and infra.devops_organization_url is None
    assert infra.infra_svc_connection == "azure-connection-mlops-mf-infra"

    def azure_keys(data):
        data["dev"].update(SUBSCRIPTION_ID="not-a-guid",
                           DEVOPS_ORGANIZATION_URL="dev.azure.com/contoso",
                           AZURE_RM_INFRA_SVC_CONNECTION=data["dev"]["AZURE_RM_SVC_CONNECTION"])

    edit_json("config/infra_config.json", azure_keys)
    messages = _messages(config_root)
    assert any(m.startswith("config/infra_config.json: dev: SUBSCRIPTION_ID: expected an Azure "
                            "subscription id") for m in messages)
    assert any(m.startswith("config/infra_config.json: dev: DEVOPS_ORGANIZATION_URL: expected "
                            "an Azure DevOps organisation URL") for m in messages)
    assert any("AZURE_RM_INFRA_SVC_CONNECTION: expected a service connection other than "
               "AZURE_RM_SVC_CONNECTION" in m for m in messages)


def test_azure_keys_load_when_valid(config_root, edit_json):
    edit_json("config/infra_config.json", lambda d: d["dev"].update(
        SUBSCRIPTION_ID="11111111-2222-3333-4444-555555555555",
        DEVOPS_ORGANIZATION_URL="https://dev.azure.com/contoso",
        AZURE_RM_INFRA_SVC_CONNECTION="infra-connection"))
    infra = load_config(config_root).infra_env("dev")
    assert infra.subscription_id == "11111111-2222-3333-4444-555555555555"
    assert infra.devops_organization_url == "https://dev.azure.com/contoso"
    assert infra.infra_svc_connection == "infra-connection"


def test_monitoring_keys_default_and_are_validated_all_at_once(config_root, edit_json):
    entry = load_config(config_root).entry("nyc_taxi", "pr")
    assert (entry.drift_threshold, entry.monitor_cron) == (0.1, "0 6 * * *")
    assert entry.realtime.collection_sampling_rate == 1.0
    edit_json("config/model_config.json", lambda d: _entry(d, "nyc_taxi", "dev").update(
        DRIFT_THRESHOLD=0.25, MONITOR_CRON="30 2 * * 1-5"))
    edit_json("mlops/nyc_taxi/configs/realtime_config.json",
              lambda d: d.update(COLLECTION_SAMPLING_RATE=0.2))
    config = load_config(config_root)
    dev = config.entry("nyc_taxi", "dev")
    assert (dev.drift_threshold, dev.monitor_cron) == (0.25, "30 2 * * 1-5")
    assert dev.realtime.collection_sampling_rate == 0.2

    edit_json("config/model_config.json", lambda d: _entry(d, "nyc_taxi", "dev").update(
        DRIFT_THRESHOLD=0, MONITOR_CRON="daily"))
    edit_json("mlops/nyc_taxi/configs/realtime_config.json",
              lambda d: d.update(COLLECTION_SAMPLING_RATE=1.5))
    with pytest.raises(ConfigError) as raised:
        load_config(config_root)
    text = str(raised.value)
    assert ("config/model_config.json: nyc_taxi/dev: DRIFT_THRESHOLD: expected a number "
            "between 0.001 and 1, found 0") in text
    assert "config/model_config.json: nyc_taxi/dev: MONITOR_CRON: expected five cron fields" in text
    assert ("mlops/nyc_taxi/configs/realtime_config.json: COLLECTION_SAMPLING_RATE: expected a "
            "number between 0.001 and 1, found 1.5") in text


def test_deployment_kinds_default_to_both_and_each_can_be_turned_off(config_root, edit_json):
    assert load_config(config_root).entry("nyc_taxi", "dev").endpoint_kinds == ("online", "batch")
    edit_json("config/model_config.json", lambda d: (
        _entry(d, "nyc_taxi", "dev").update(IS_ONLINE_DEPLOYMENT=False),
        _entry(d, "london_taxi", "dev").update(IS_BATCH_DEPLOYMENT=False, IS_ONLINE_DEPLOYMENT=True),
        _entry(d, "breast_cancer", "dev").update(IS_ONLINE_DEPLOYMENT=False,
                                                 IS_BATCH_DEPLOYMENT=False)))
    config = load_config(config_root)
    nyc, london = config.entry("nyc_taxi", "dev"), config.entry("london_taxi", "dev")
    assert (nyc.is_online_deployment, nyc.is_batch_deployment) == (False, True)
    assert nyc.endpoint_kinds == ("batch",) and london.endpoint_kinds == ("online",)
    assert nyc.not_served("online") == "nyc_taxi/dev: IS_ONLINE_DEPLOYMENT is false"
    # both off is allowed: trained and registered, not served
    cancer = config.entry("breast_cancer", "dev")
    assert cancer.endpoint_kinds == ()
    assert "IS_ONLINE_DEPLOYMENT and IS_BATCH_DEPLOYMENT are false" in cancer.not_served()
    assert config.entry("breast_cancer", "pr").endpoint_kinds == ("online", "batch")


def test_deployment_kinds_must_be_json_booleans_all_reported_at_once(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: (
        _entry(d, "nyc_taxi", "dev").update(IS_ONLINE_DEPLOYMENT="yes", IS_BATCH_DEPLOYMENT=1),
        _entry(d, "london_taxi", "pr").update(IS_BATCH_DEPLOYMENT=None),
        _entry(d, "london_taxi", "dev").update(IS_ONLINE_DEPLOYMNT=False)))
    messages = _messages(config_root)
    assert ("config/model_config.json: nyc_taxi/dev: IS_ONLINE_DEPLOYMENT: expected true or "
            "false, found a string 'yes'") in messages
    assert ("config/model_config.json: nyc_taxi/dev: IS_BATCH_DEPLOYMENT: expected true or "
            "false, found an integer 1") in messages
    assert ("config/model_config.json: london_taxi/pr: IS_BATCH_DEPLOYMENT: expected true or "
            "false, found null") in messages
    typo = next(m for m in messages if "IS_ONLINE_DEPLOYMNT" in m)
    assert typo.startswith("config/model_config.json: london_taxi/dev: IS_ONLINE_DEPLOYMNT: "
                           "unknown key") and "IS_ONLINE_DEPLOYMENT" in typo
    assert len(messages) == 4
