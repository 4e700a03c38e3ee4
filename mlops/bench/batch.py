"""Batch benchmark: 100,000 rows in 20 files through the batch endpoint's job runner (each job
starting its own workers), beside in-process read + predict of the same files with the batch
script's own reader, one thread. The model is the serving area's (nyc_taxi's champion, else
the fixture model); the figures are medians of BATCH_JOBS jobs."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from mlops.bench import Section
from mlops.bench.serving import MODEL, _model, _records
from mlops.serving import code_folder

BATCH_ROWS = 100_000
BATCH_FILES = 20
BATCH_JOBS = 3  # each a job of its own (new workers); the figures are the medians


def run(config, args) -> Section:
    section = Section("batch", "Batch: scoring throughput")
    with tempfile.TemporaryDirectory(prefix="factory-bench-batch-") as tmp:
        tmp = Path(tmp)
        description, model_dir, sample = _model(config, tmp)
        section.notes.append(f"Model: {description}; the rows are the sample request's, repeated.")
        _batch(section, config.entry(MODEL, "dev"), model_dir, sample, tmp)
    return section


def _batch(section: Section, entry, model_dir: Path, sample: Path, tmp: Path) -> None:
    import pandas as pd

    from mlops.serving.batch import BatchSpec, run_batch

    records = _records(sample)
    per_file = BATCH_ROWS // BATCH_FILES
    frame = pd.DataFrame(records * (per_file // len(records) + 1)).head(per_file)
    folder = tmp / "batch-input"
    folder.mkdir()
    for n in range(BATCH_FILES):
        frame.to_csv(folder / f"part-{n:03d}.csv", index=False)
    batch = entry.batch
    code = code_folder.stage(tmp / "no-own-script", "batch", tmp / "batch-code")
    spec = BatchSpec(endpoint="bench-batch", score_path=code / "score.py",
                     model_dir=model_dir.parent, mini_batch_size=batch.mini_batch_size,
                     concurrency=batch.concurrency, max_retries=batch.max_retries,
                     retry_timeout=batch.retry_timeout)
    results = [run_batch(spec, folder, tmp / f"job-bench-{n}", say=lambda _: None)
               for n in range(BATCH_JOBS)]
    anchor = statistics.median(_batch_in_process(model_dir, folder, code)
                               for _ in range(BATCH_JOBS))
    scoring = statistics.median(r.rows / r.scoring_seconds for r in results)
    result = results[0]
    label = (f"{result.rows:,} rows in {BATCH_FILES} files, {batch.concurrency} workers, "
             f"mini batch {batch.mini_batch_size}")
    section.add(f"{label}, scoring (workers ready to output in place; median of "
                f"{BATCH_JOBS} jobs)", scoring, "rows/s", ">= 100,000", scoring >= 100_000)
    starts = [r.seconds - r.scoring_seconds for r in results]
    section.add(f"worker start (model load), not in the figure above (median; jobs in "
                f"order: {', '.join(f'{s:.2f} s' for s in starts)}, the first one also starting "
                f"the warm interpreter unless one was kept)", statistics.median(starts), "s")
    section.add("the whole job including worker start",
                statistics.median(r.rows / r.seconds for r in results), "rows/s")
    section.add(f"in-process read + predict of the same files (one thread; median of "
                f"{BATCH_JOBS})", anchor,
                "rows/s")
    ratio = scoring / anchor
    section.add("ratio: batch scoring / in-process read + predict", ratio, "", ">= 0.5",
                ratio >= 0.5)
    written = min(r.rows for r in results)
    section.add("rows written (one per input row, fewest of the jobs)", written, "rows",
                f"= {BATCH_FILES * per_file:,}", written == BATCH_FILES * per_file)


def _batch_in_process(model_dir: Path, folder: Path, code: Path) -> float:
    """rows/s of reading every file with the batch script's reader and predicting it."""
    import importlib.util

    from threadpoolctl import threadpool_limits

    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    spec = importlib.util.spec_from_file_location("bench_batch_score", code / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()
    names = [c.name for c in score.model.columns]
    files = sorted(folder.iterdir())
    with threadpool_limits(1):
        start = time.perf_counter()
        rows = 0
        for path in files:
            data = score._read(str(path))  # noqa: SLF001 - the same reader the jobs use
            score.model.predict(data[names])
            rows += len(data)
        return rows / (time.perf_counter() - start)
