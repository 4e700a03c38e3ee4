"""Promotion's rules that need no workspace: where a model may go (PROMOTE_FROM), the lineage
tags a copy carries (written by one platform module, read back by lineage: versioned), the
endpoint ports of each environment, and the CLI's one-model --version."""

from __future__ import annotations

import pytest

from mlops.cli import main
from mlops.config import load_config
from mlops.errors import PromotionError
from mlops.lineage import promotion_order
from mlops.promotion import check_route, source_of
from mlops.records import (
    SCHEMA_VERSION,
    Approval,
    ApprovedVersion,
    Promotion,
    RecordError,
    Workspace,
)
from mlops.serving.online import stable_ports

SOURCE = ApprovedVersion("dev", "mlw-mlops-mf-001", "nyc_taxi", "nyc_taxi_model_dev_main", "3",
                         "a" * 64, Approval("ada", "977", "2026-01-02T03:04:05+00:00"),
                         run_id="run-1", data=("nyc_taxi_training:feedfacecafe",),
                         git_commit="c" * 40, build_id="977")
PROMOTION = Promotion(SOURCE, "prod", "mlw-mlops-mf-101", "1", "bob",
                      "2026-03-04T05:06:07+00:00", "cd-9",
                      registry_model="azureml://registries/r/models/m/versions/3")


def test_promotions_follow_promote_from():
    config = load_config()
    assert source_of(config, "prod") == "dev"
    check_route(config, "dev", "prod")
    with pytest.raises(PromotionError, match="dev has no PROMOTE_FROM: it receives no "
                                             "promotions"):
        check_route(config, "prod", "dev")
    with pytest.raises(PromotionError, match="--from and --to are both prod"):
        check_route(config, "prod", "prod")
    with pytest.raises(PromotionError, match="--to qa: config/infra_config.json has no "
                                             "environment 'qa'"):
        check_route(config, "dev", "qa")
    assert promotion_order(config) == ["dev", "prod"]


def test_lineage_tags_round_trip_and_name_what_is_wrong():
    tags = PROMOTION.to_tags()
    assert all(k.startswith("factory.promotion.") and isinstance(v, str) for k, v in tags.items())
    assert tags["factory.promotion.source.data"] == "nyc_taxi_training:feedfacecafe"
    assert Promotion.from_tags({**tags, "gate.r2": "0.9"}) == PROMOTION
    assert Promotion.from_tags({"factory.model_digest": "x"}) is None  # trained where it is
    newer = {**tags, "factory.promotion.schema_version": str(SCHEMA_VERSION + 1)}
    with pytest.raises(RecordError, match="newer than this factory understands"):
        Promotion.from_tags(newer, "v1 tags")
    broken = {k: v for k, v in tags.items() if not k.endswith("source.version")}
    with pytest.raises(RecordError, match="v1 tags: missing version"):
        Promotion.from_tags(broken, "v1 tags")


def test_each_environment_keeps_its_fronts_in_its_own_port_range():
    config = load_config()
    dev, prod = (config.infra_env(e).local_endpoint_ports for e in ("dev", "prod"))
    for name in ("nyc-taxi-online", "london-taxi-online", "breast-cancer-online"):
        dev_ports, prod_ports = stable_ports(name, dev), stable_ports(name, prod)
        assert all(dev[0] <= p <= dev[1] for p in dev_ports)
        assert all(prod[0] <= p <= prod[1] for p in prod_ports)
        assert not set(dev_ports) & set(prod_ports)
    # from the name's place, wrapping inside the range: a range of 200 is tried whole, once
    assert sorted(stable_ports("x", (30000, 30199))) == list(range(30000, 30200))


def test_the_workspace_output_carries_the_ports_and_refuses_a_bad_pair(azure_workspace_output):
    from mlops.paths import local_workspace

    config = load_config()
    workspace = local_workspace(config.infra_env("prod"), config.root / ".factory")
    assert workspace.endpoint_ports == (24000, 27999)
    assert Workspace.from_output(workspace.to_output()) == workspace
    with pytest.raises(RecordError, match=r"endpoint_ports: expected \[first, last\]"):
        Workspace.from_output({**azure_workspace_output, "endpoint_ports": [1]})


def test_a_version_names_one_model(capsys):
    assert main(["approve", "nyc_taxi", "london_taxi", "--version", "3"]) == 2
    assert "--version 3 names a version of one model" in capsys.readouterr().err
