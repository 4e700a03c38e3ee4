"""Online scoring script of every model, staged as score.py into each online deployment's code
folder by mlops/serving/code_folder.py (a model's own serving/online/score.py wins). Run by
azureml-inference-server-http (azmlinfsrv) locally and by Azure ML managed online endpoints.

init() loads the MLflow model found under AZUREML_MODEL_DIR. run() validates the request
against the model's signature and answers {"predictions": [...]}; a classifier answers
{"predictions": [class, ...], "probabilities": [[p per class], ...], "classes": [...]}. A bad
request gets HTTP 400 naming the field, never a 500. Each answered request's inputs and
predictions go to the deployment's data collector (collector.py; off unless the deployment's
environment configures it), which `nox -s monitor` reads."""

from __future__ import annotations

import json
import logging
import os
import sys

# signature_input.py, served_model.py and collector.py are staged beside this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from collector import Collector, correlation_id  # noqa: E402
from served_model import ServedModel, find_model_folder  # noqa: E402
from signature_input import InputError, parse_request, rows_to_frame  # noqa: E402

try:  # the name Azure ML documents; the server package ships the same class
    from azureml.contrib.services.aml_response import AMLResponse
except ImportError:  # pragma: no cover - depends on the installed server version
    from azureml_inference_server_http.api.aml_response import AMLResponse

logger = logging.getLogger(__name__)
model: ServedModel | None = None
collector: Collector | None = None


def init() -> None:
    global model, collector
    collector = Collector.from_environment()  # a wrong setting stops the start, named
    folder = find_model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = ServedModel(folder)
    logger.info("loaded %s model from %s; inputs: %s", model.task, folder,
                ", ".join(c.name for c in model.columns))


def _reply(payload: dict, status: int) -> AMLResponse:
    return AMLResponse(payload, status, json_str=True)


def run(raw_data):
    try:
        frame = rows_to_frame(parse_request(raw_data), model.columns)
    except InputError as exc:
        return _reply({"message": str(exc)}, 400)
    predictions, probabilities = model.predict(frame)
    collector.collect(frame, predictions, correlation_id())
    if probabilities is None:
        return _reply({"predictions": predictions.tolist()}, 200)
    return _reply({"predictions": predictions.tolist(), "probabilities": probabilities.tolist(),
                   "classes": model.classes}, 200)


if __name__ == "__main__":  # python score.py '<json>' for a quick local check
    init()
    print(json.dumps(json.loads(run(sys.argv[1]).get_data(as_text=True))))
