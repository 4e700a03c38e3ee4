"""One batch worker process: load the batch score.py, call init() once, then run(mini_batch)
for every task the parent sends over the pipe. Crashes and hangs are the parent's to handle."""

from __future__ import annotations

import importlib.util
import os
import traceback


def serve(conn, score_path: str, model_dir: str) -> None:
    os.environ["AZUREML_MODEL_DIR"] = model_dir
    try:
        spec = importlib.util.spec_from_file_location("batch_score", score_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
    except BaseException:  # noqa: BLE001 - report any init failure to the parent
        conn.send(("init_failed", None, traceback.format_exc(limit=5)))
        return
    conn.send(("ready", None, None))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        task_id, files = task
        try:
            conn.send(("ok", task_id, _rows(module.run(files))))
        except Exception as exc:  # noqa: BLE001 - the parent retries and reports it
            conn.send(("error", task_id, f"{type(exc).__name__}: {exc}"))


def _rows(result):
    """run() returns a DataFrame (Azure's append_row) or a list; ship it as a DataFrame."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result
    return pd.DataFrame({"prediction": list(result)})
