"""Data collector of online deployments: logs each sampled request's model inputs and outputs the
way Azure ML's data collector does, so `nox -s monitor` reads the same thing on both platforms.

Staged beside the online score.py (mlops/serving/code_folder.py), so it imports nothing of the
factory: the standard library and pandas only. The deployment configures it through its
environment (``collector_environment`` below writes it; mlops/platform/*/endpoints.py set it):

    FACTORY_COLLECT_BACKEND        "files" (local) | "azureml" (azureml-ai-monitoring) | "off"
    FACTORY_COLLECT_DIR            files: the root of the collected data
    FACTORY_COLLECT_ENDPOINT       the endpoint's name
    FACTORY_COLLECT_DEPLOYMENT     the deployment's name (blue, green...)
    FACTORY_COLLECT_MODEL_VERSION  the served model version
    FACTORY_COLLECT_SAMPLING_RATE  share of requests logged, 0 < rate <= 1 (realtime config
                                   COLLECTION_SAMPLING_RATE)

The score script's API, three lines::

    collector = Collector.from_environment()                      # in init()
    collector.collect(frame, predictions, correlation_id())       # in run(), after predicting

Files backend (Azure ML's layout and record, see how-to-collect-production-data, "Store
collected data in Blob Storage"): ``<root>/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/
<instance>.jsonl`` for the collections ``model_inputs`` and ``model_outputs``, one JSON object
per line: specversion, id, source, type ``azureml.inference.<collection>``, datacontenttype,
time, data (the frame's rows), contentrange, correlationid, xrequestid, modelversion,
collectdatatype, agent. Both collections of one request carry the same correlation id and are
sampled together. Only the frames are written: no header (so never the endpoint key) reaches a
file. One file per process and hour, appended by single writes; a failure to write is logged and
counted, never turned into a failed request.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import random
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKENDS = ("files", "azureml", "off")
COLLECTIONS = ("model_inputs", "model_outputs")
INPUTS, OUTPUTS = COLLECTIONS
PREDICTION_COLUMN = "prediction"  # model_outputs of a plain list of predictions
AGENT = "model-factory-collector/1"
DATA_TYPE = "pandas.core.frame.DataFrame"  # what Azure ML records for a logged DataFrame
SPEC_VERSION = "1.0"
ENV_BACKEND = "FACTORY_COLLECT_BACKEND"
ENV_DIR = "FACTORY_COLLECT_DIR"
ENV_ENDPOINT = "FACTORY_COLLECT_ENDPOINT"
ENV_DEPLOYMENT = "FACTORY_COLLECT_DEPLOYMENT"
ENV_MODEL_VERSION = "FACTORY_COLLECT_MODEL_VERSION"
ENV_RATE = "FACTORY_COLLECT_SAMPLING_RATE"

logger = logging.getLogger(__name__)


class CollectorConfigError(ValueError):
    """The deployment's collector environment is wrong; the message names the variable."""


def collector_environment(*, backend: str, endpoint: str, deployment: str, model_version: str,
                          sampling_rate: float, root: Path | str | None = None
                          ) -> dict[str, str]:
    """The environment variables a deployment sets for ``Collector.from_environment``."""
    env = {ENV_BACKEND: backend, ENV_ENDPOINT: endpoint, ENV_DEPLOYMENT: deployment,
           ENV_MODEL_VERSION: str(model_version), ENV_RATE: repr(float(sampling_rate))}
    if root is not None:
        env[ENV_DIR] = str(root)
    return env


def correlation_id() -> str:
    """The request id azmlinfsrv gives the current request (the client's ``x-request-id``
    header, else a new one, answered back in the same header), else a new id."""
    try:
        from flask import g, has_request_context

        if has_request_context() and getattr(g, "request_id", None):
            return str(g.request_id)
    except ImportError:  # pragma: no cover - the server always has flask
        pass
    return str(uuid.uuid4())


def collection_folder(root: Path, endpoint: str, deployment: str, collection: str,
                      when: _dt.datetime) -> Path:
    """Where a record of ``when`` (UTC) goes: Azure ML's hourly rolling path."""
    return (Path(root) / endpoint / deployment / collection / f"{when:%Y}" / f"{when:%m}"
            / f"{when:%d}" / f"{when:%H}")


@dataclass
class Collector:
    backend: str = "off"
    endpoint: str = ""
    deployment: str = ""
    model_version: str = ""
    sampling_rate: float = 1.0
    root: Path | None = None
    collected: int = 0  # requests logged
    skipped: int = 0  # requests not sampled
    failed: int = 0  # requests whose logging failed
    _random: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _instance: tuple[int, str] | None = field(default=None, repr=False)
    _azure: tuple[Any, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Collector:
        """The collector the deployment's environment describes; ``off`` when it sets none.
        CollectorConfigError names a wrong variable (the deployment then fails to start,
        which its health check reports, rather than serving without the logging it asked for)."""
        env = os.environ if environ is None else environ
        backend = env.get(ENV_BACKEND, "off").strip() or "off"
        if backend not in BACKENDS:
            raise CollectorConfigError(f"{ENV_BACKEND}={backend!r}: expected one of "
                                       f"{', '.join(BACKENDS)}")
        if backend == "off":
            return cls()
        text = env.get(ENV_RATE, "1.0")
        try:
            rate = float(text)
        except ValueError:
            rate = -1.0
        if not 0.0 < rate <= 1.0:
            raise CollectorConfigError(f"{ENV_RATE}={text!r}: expected a number greater than "
                                       f"0 and at most 1")
        missing = [name for name in (ENV_ENDPOINT, ENV_DEPLOYMENT)
                   if not env.get(name, "").strip()]
        if backend == "files" and not env.get(ENV_DIR, "").strip():
            missing.append(ENV_DIR)
        if missing:
            raise CollectorConfigError(f"data collection ({ENV_BACKEND}={backend}) needs "
                                       f"{', '.join(missing)}")
        root = Path(env[ENV_DIR]) if backend == "files" else None
        return cls(backend=backend, endpoint=env[ENV_ENDPOINT], deployment=env[ENV_DEPLOYMENT],
                   model_version=env.get(ENV_MODEL_VERSION, ""), sampling_rate=rate, root=root)

    @property
    def enabled(self) -> bool:
        return self.backend != "off"

    def collect(self, inputs: Any, outputs: Any, correlation_id: str | None = None,
                model_version: str | None = None) -> bool:
        """Log one request's inputs (a DataFrame) and outputs (a DataFrame, or one prediction
        per row) when the request is sampled; True when it was written. Never raises."""
        if not self.enabled:
            return False
        if self.sampling_rate < 1.0 and self._random.random() >= self.sampling_rate:
            self.skipped += 1
            return False
        try:
            outputs_frame = _outputs_frame(outputs)
            cid = correlation_id or str(uuid.uuid4())
            version = model_version or self.model_version
            if self.backend == "azureml":
                self._collect_azureml(inputs, outputs_frame, cid)
            else:
                self._collect_files(inputs, outputs_frame, cid, version)
        except Exception as exc:  # noqa: BLE001 - logging must never fail the request
            self.failed += 1
            logger.warning("data collector: could not log request %s: %s", correlation_id, exc)
            return False
        self.collected += 1
        return True

    # -- files -----------------------------------------------------------------------------
    def _instance_id(self) -> str:
        """One file name per process: azmlinfsrv's workers are forked processes."""
        pid = os.getpid()
        if self._instance is None or self._instance[0] != pid:
            self._instance = (pid, str(uuid.uuid4()))
        return self._instance[1]

    def _collect_files(self, inputs: Any, outputs: Any, cid: str, version: str) -> None:
        now = _dt.datetime.now(_dt.UTC)
        lines = {name: self._record(name, frame, cid, version, now)
                 for name, frame in ((INPUTS, inputs), (OUTPUTS, outputs))}
        with self._lock:
            for name, line in lines.items():
                folder = collection_folder(self.root, self.endpoint, self.deployment, name, now)
                folder.mkdir(parents=True, exist_ok=True)
                _append(folder / f"{self._instance_id()}.jsonl", line)

    def _record(self, collection: str, frame: Any, cid: str, version: str,
                now: _dt.datetime) -> bytes:
        data = json.loads(frame.to_json(orient="records", date_format="iso"))
        size = len(json.dumps(data, separators=(",", ":")).encode())
        record = {
            "specversion": SPEC_VERSION, "id": str(uuid.uuid4()),
            "source": f"/local/onlineEndpoints/{self.endpoint}/deployments/{self.deployment}",
            "type": f"azureml.inference.{collection}", "datacontenttype": "application/json",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}", "correlationid": cid,
            "xrequestid": cid, "modelversion": version,
            "collectdatatype": DATA_TYPE,
            "agent": AGENT}
        return (json.dumps(record, separators=(",", ":")) + "\n").encode()

    # -- azureml-ai-monitoring -------------------------------------------------------------
    def _collect_azureml(self, inputs: Any, outputs: Any, cid: str) -> None:
        """Azure ML's own collector (package azureml-ai-monitoring, in the deployment's
        environment): it writes to the workspace's blob store, sampled by the deployment's
        data_collector.sampling_rate; the factory's rate is 1.0 there (see endpoints.py)."""
        if self._azure is None:
            from azureml.ai.monitoring import Collector as AzureCollector

            self._azure = (AzureCollector(name=INPUTS), AzureCollector(name=OUTPUTS))
        from azureml.ai.monitoring.context import BasicCorrelationContext

        inputs_collector, outputs_collector = self._azure
        context = inputs_collector.collect(inputs, BasicCorrelationContext(id=cid))
        outputs_collector.collect(outputs, context)


def _outputs_frame(outputs: Any) -> Any:
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return outputs
    if hasattr(outputs, "tolist"):
        outputs = outputs.tolist()
    if not isinstance(outputs, Sequence) or isinstance(outputs, str | bytes):
        raise TypeError(f"outputs: expected a DataFrame or one prediction per row, found "
                        f"{type(outputs).__name__}")
    return pd.DataFrame({PREDICTION_COLUMN: list(outputs)})


def _append(path: Path, line: bytes) -> None:
    """One write of a whole line to a file opened for appending: a reader sees whole lines
    (a process killed mid-write leaves at most a partial last line, which readers skip)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
