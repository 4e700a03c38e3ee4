"""Online scoring script, run by azureml-inference-server-http (azmlinfsrv) locally and by
Azure ML managed online endpoints. init() loads the MLflow model found under
AZUREML_MODEL_DIR; run() validates the request against the model's signature and answers
{"predictions": [...]}; a bad request gets HTTP 400 naming the field, never a 500."""

from __future__ import annotations

import json
import logging
import os
import sys

# signature_input.py is staged beside this file (mlops/serving/code_folder.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from signature_input import InputError, parse_request, rows_to_frame, signature_columns  # noqa: E402

try:  # the name Azure ML documents; the server package ships the same class
    from azureml.contrib.services.aml_response import AMLResponse
except ImportError:  # pragma: no cover - depends on the installed server version
    from azureml_inference_server_http.api.aml_response import AMLResponse

logger = logging.getLogger(__name__)
model = None
columns = None


def find_model_folder(root: str) -> str:
    """The folder holding the MLmodel file: AZUREML_MODEL_DIR itself or one below it."""
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        if "MLmodel" in files:
            return current
    raise FileNotFoundError(f"no MLmodel file under AZUREML_MODEL_DIR={root}")


def init() -> None:
    global model, columns
    import mlflow.pyfunc

    folder = find_model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = mlflow.pyfunc.load_model(folder)
    columns = signature_columns(model.metadata.signature)
    logger.info("loaded model from %s; inputs: %s", folder, ", ".join(c.name for c in columns))


def _error(status: int, message: str) -> AMLResponse:
    return AMLResponse({"message": message}, status, json_str=True)


def run(raw_data):
    try:
        frame = rows_to_frame(parse_request(raw_data), columns)
    except InputError as exc:
        return _error(400, str(exc))
    predictions = model.predict(frame)
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return AMLResponse({"predictions": values}, 200, json_str=True)


if __name__ == "__main__":  # python score.py '<json>' for a quick local check
    init()
    print(json.dumps(json.loads(run(sys.argv[1]).get_data(as_text=True))))
