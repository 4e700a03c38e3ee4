"""One batch worker process: load the batch score.py, call init() once, then run(mini_batch)
for every task the parent sends over the pipe. Crashes and hangs are the parent's to handle.

Started as ``python -m mlops.serving._batch_worker --fd N SCORE MODEL_DIR`` (a plain
subprocess, not multiprocessing: spawn would re-import the caller's __main__, i.e. the CLI), or
forked from a warm interpreter with ``--connect SOCKET`` in place of ``--fd N`` (it cannot
inherit the parent's descriptor, so it connects to the parent's socket)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
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


def main(argv: list[str] | None = None) -> int:
    from multiprocessing.connection import Connection

    parser = argparse.ArgumentParser(prog="python -m mlops.serving._batch_worker")
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--fd", type=int)
    channel.add_argument("--connect")
    parser.add_argument("score_path")
    parser.add_argument("model_dir")
    args = parser.parse_args(argv)
    if args.connect:
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.connect)
        serve(Connection(sock.detach()), args.score_path, args.model_dir)
    else:
        serve(Connection(args.fd), args.score_path, args.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
