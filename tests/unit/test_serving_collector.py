"""The data collector: Azure ML's layout and record, sampling, configuration errors, no factory
imports (it is staged beside score.py), and the reader that turns it back into frames."""

from __future__ import annotations

import ast
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops.monitoring.collected import CollectedDataError, read_collected
from mlops.serving import collector as col
from mlops.serving.collector import Collector, CollectorConfigError, collector_environment

REPO = Path(__file__).resolve().parents[2]
HOUR = r"\d{4}/\d{2}/\d{2}/\d{2}"


def _frame(n: int = 3, start: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"distance": [start + i for i in range(n)],
                         "vendor": [1 + i % 2 for i in range(n)]})


def _files_collector(root: Path, rate: float = 1.0, version: str = "7") -> Collector:
    return Collector.from_environment(collector_environment(
        backend="files", endpoint="nyc-taxi-online", deployment="blue", model_version=version,
        sampling_rate=rate, root=root))


def test_records_follow_azure_ml_layout_and_schema(tmp_path):
    collector = _files_collector(tmp_path)
    before = dt.datetime.now(dt.UTC)
    assert collector.collect(_frame(), [10.5, 11.5, 12.5], "req-1")
    files = {name: sorted((tmp_path / "nyc-taxi-online" / "blue" / name).rglob("*.jsonl"))
             for name in col.COLLECTIONS}
    assert all(len(found) == 1 for found in files.values()), files
    # <endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/<instance>.jsonl, hour in UTC
    relative = files["model_inputs"][0].relative_to(tmp_path / "nyc-taxi-online" / "blue")
    assert relative.parts[1:5] == (f"{before:%Y}", f"{before:%m}", f"{before:%d}",
                                   f"{before:%H}") or before.minute == 59
    inputs = json.loads(files["model_inputs"][0].read_text())
    outputs = json.loads(files["model_outputs"][0].read_text())
    # the keys of Azure ML's collected records (how-to-collect-production-data, "Store
    # collected data in Blob Storage")
    for record in (inputs, outputs):
        assert {"specversion", "id", "source", "type", "datacontenttype", "time", "data",
                "contentrange", "correlationid", "xrequestid", "modelversion",
                "collectdatatype", "agent"} <= set(record)
        assert record["correlationid"] == record["xrequestid"] == "req-1"
        assert record["modelversion"] == "7"
        assert record["collectdatatype"] == "pandas.core.frame.DataFrame"
    assert inputs["type"] == "azureml.inference.model_inputs"
    assert outputs["type"] == "azureml.inference.model_outputs"
    assert inputs["data"] == [{"distance": 1.0, "vendor": 1}, {"distance": 2.0, "vendor": 2},
                              {"distance": 3.0, "vendor": 1}]
    assert outputs["data"] == [{"prediction": 10.5}, {"prediction": 11.5},
                               {"prediction": 12.5}]
    size = int(inputs["contentrange"].rsplit("/", 1)[1])
    assert size == len(json.dumps(inputs["data"], separators=(",", ":")).encode())


def test_sampling_logs_the_configured_share_and_keeps_pairs_together(tmp_path):
    collector = _files_collector(tmp_path, rate=0.25)
    collector._random.seed(12)
    for i in range(800):
        collector.collect(_frame(1, i), [float(i)], f"req-{i}")
    assert collector.collected + collector.skipped == 800
    assert 150 <= collector.collected <= 250  # 200 expected; binomial sd ~12
    collected = read_collected(tmp_path, "nyc-taxi-online")
    assert collected.requests == collector.collected
    # every logged input row has its own prediction: inputs and outputs sampled together
    assert (collected.inputs["distance"] == collected.outputs["prediction"]).all()


def test_off_by_default_and_config_errors_name_the_variable(tmp_path):
    assert not Collector.from_environment({}).enabled
    assert not Collector.from_environment({}).collect(_frame(), [1, 2, 3])
    env = collector_environment(backend="files", endpoint="e", deployment="d",
                                model_version="1", sampling_rate=0.5, root=tmp_path)
    with pytest.raises(CollectorConfigError, match="FACTORY_COLLECT_SAMPLING_RATE='0.0'"):
        Collector.from_environment({**env, col.ENV_RATE: "0.0"})
    with pytest.raises(CollectorConfigError, match="FACTORY_COLLECT_SAMPLING_RATE='half'"):
        Collector.from_environment({**env, col.ENV_RATE: "half"})
    with pytest.raises(CollectorConfigError, match="FACTORY_COLLECT_BACKEND='blob'"):
        Collector.from_environment({**env, col.ENV_BACKEND: "blob"})
    with pytest.raises(CollectorConfigError, match="FACTORY_COLLECT_DIR"):
        Collector.from_environment({k: v for k, v in env.items() if k != col.ENV_DIR})


def test_a_failed_write_is_counted_never_raised(tmp_path):
    blocker = tmp_path / "root"
    blocker.write_text("a file where the collection root should be")
    collector = _files_collector(blocker)
    assert collector.collect(_frame(), [1.0, 2.0, 3.0], "req") is False
    assert collector.failed == 1
    assert collector.collect(_frame(), "not predictions", "req") is False  # wrong outputs
    assert collector.failed == 2


def test_reader_skips_a_partial_last_line_and_rejects_garbage(tmp_path):
    collector = _files_collector(tmp_path)
    for i in range(3):
        collector.collect(_frame(2, i), [1.0, 2.0], f"req-{i}")
    inputs = next((tmp_path / "nyc-taxi-online" / "blue" / "model_inputs").rglob("*.jsonl"))
    data = inputs.read_bytes()
    inputs.write_bytes(data + data.splitlines()[0][:40])  # killed mid-write
    collected = read_collected(tmp_path, "nyc-taxi-online")
    assert collected.requests == 3 and len(collected.inputs) == 6
    assert collected.skipped_lines == [f"{inputs}:4"]
    inputs.write_bytes(b"not json\n" + data)
    with pytest.raises(CollectedDataError, match=r"model_inputs/.*\.jsonl: line 1: not a data"):
        read_collected(tmp_path, "nyc-taxi-online")
    with pytest.raises(CollectedDataError, match="no collected data for endpoint other"):
        read_collected(tmp_path, "other")


def test_processes_write_their_own_files(tmp_path):
    """azmlinfsrv's workers are processes: each appends to its own file, none is torn."""
    script = ("import sys, pandas as pd\n"
              "from mlops.serving.collector import Collector\n"
              "c = Collector.from_environment()\n"
              "for i in range(200):\n"
              "    c.collect(pd.DataFrame({'x': [float(i)] * 20}), [float(i)] * 20, f'{sys.argv[1]}-{i}')\n")
    env = {**collector_environment(backend="files", endpoint="ep", deployment="blue",
                                   model_version="1", sampling_rate=1.0, root=tmp_path),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, f"p{n}"], env=env)
             for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    files = list((tmp_path / "ep" / "blue" / "model_inputs").rglob("*.jsonl"))
    assert 3 <= len(files) <= 6  # one per process (and per hour, should one turn meanwhile)
    collected = read_collected(tmp_path, "ep")
    assert collected.requests == 600 and not collected.skipped_lines
    assert (collected.inputs["x"] == collected.outputs["prediction"]).all()


def test_collector_imports_only_the_standard_library_and_pandas():
    """It is staged beside score.py and uploaded to Azure ML: no factory module is there."""
    tree = ast.parse((REPO / "mlops" / "serving" / "collector.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    allowed = set(sys.stdlib_module_names) | {"pandas", "flask", "azureml", "__future__"}
    assert imported <= allowed, imported - allowed


def test_azureml_backend_logs_through_azure_mls_collector(monkeypatch):
    """On Azure the score script logs through azureml-ai-monitoring (installed in the scoring
    environment, mlops/environment/conda.yml): Collector(name=...) per collection, the inputs'
    context passed to the outputs' collect so Azure ML correlates them, the request's id as a
    BasicCorrelationContext (how-to-collect-production-data, "log custom unique IDs"). A stand-in
    with the package's signatures (azureml-ai-monitoring 1.0: keyword-only name) records it."""
    import types

    calls = []

    class Context:
        def __init__(self, id=None, timestamp=None, headers=None):  # noqa: A002
            self.id = id

    class AzureCollector:
        def __init__(self, *, name, on_error=None):
            self.name = name

        def collect(self, data, correlation_context=None):
            calls.append((self.name, list(data.columns), correlation_context.id))
            return correlation_context

    package = types.ModuleType("azureml.ai.monitoring")
    package.Collector = AzureCollector
    context = types.ModuleType("azureml.ai.monitoring.context")
    context.BasicCorrelationContext = Context
    for name, module in (("azureml", types.ModuleType("azureml")),
                         ("azureml.ai", types.ModuleType("azureml.ai")),
                         ("azureml.ai.monitoring", package),
                         ("azureml.ai.monitoring.context", context)):
        monkeypatch.setitem(sys.modules, name, module)
    collector = Collector.from_environment(collector_environment(
        backend="azureml", endpoint="e", deployment="green", model_version="3",
        sampling_rate=1.0))
    assert collector.collect(_frame(), [1.0, 2.0, 3.0], "req-9")
    assert calls == [("model_inputs", ["distance", "vendor"], "req-9"),
                     ("model_outputs", ["prediction"], "req-9")]
