"""Fill a data folder with generated data for one purpose of a model's data_config, through the
model's own generator (its generate_data.py):

    python -m factory_steps.generate --folder DIR --purpose pr_data|training_data|batch_test_data
                                     [--rows N] [--seed S]

The model's generate_data.py defines generate(folder, rows, seed) -> [paths], writing raw files
in the model's own layout (what its prep reads), and may set SIZES (purpose -> rows),
DEFAULT_SEED, BATCH_FILES and BATCH_PREFIX. pr_data and training_data are raw files;
batch_test_data is model input rows (FEATURES, plus the target, which scoring ignores): raw
rows run through the model's prep and features, split into a few files."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PURPOSES = ("pr_data", "training_data", "batch_test_data")
SIZES = {"pr_data": 2_000, "training_data": 15_000, "batch_test_data": 900}
# Distinct random streams per purpose, so the pr sample is not a prefix of the training data.
PURPOSE_OFFSET = {"pr_data": 1, "training_data": 2, "batch_test_data": 3}
DEFAULT_SEED = 2016
BATCH_FILES = 3
HEADROOM = 1.1  # raw rows per batch row: prep's filters drop some


def write_csv(frame, path: Path) -> Path:
    """Atomically: a generator killed midway leaves no half-written data file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def write_halves(folder, names: tuple[str, str], rows: int, make) -> list[Path]:
    """Two raw files of about ``rows`` / 2 rows each: ``make(count, first_row)`` -> a frame."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = rows // 2
    return [write_csv(make(first, 0), folder / names[0]),
            write_csv(make(rows - first, first), folder / names[1])]


def batch_rows(model, folder: Path, rows: int, seed: int) -> list[Path]:
    import numpy as np
    from features import build_features
    from prep import prepare

    with tempfile.TemporaryDirectory() as tmp:
        model.generate(Path(tmp), int(rows * HEADROOM) + 20, seed)
        clean, _ = prepare(Path(tmp))
    features = build_features(clean).head(rows)
    files = getattr(model, "BATCH_FILES", BATCH_FILES)
    prefix = getattr(model, "BATCH_PREFIX", "batch")
    return [write_csv(features.iloc[part], folder / f"{prefix}-{i:02d}.csv")
            for i, part in enumerate(np.array_split(np.arange(len(features)), files), start=1)]


def generate_purpose(model, folder: Path, purpose: str, seed: int | None = None,
                     rows: int | None = None) -> list[Path]:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose {purpose!r}: expected one of {', '.join(PURPOSES)}")
    rows = rows or {**SIZES, **getattr(model, "SIZES", {})}[purpose]
    seed = (getattr(model, "DEFAULT_SEED", DEFAULT_SEED) if seed is None else seed) * 10 \
        + PURPOSE_OFFSET[purpose]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if purpose == "batch_test_data":
        return batch_rows(model, folder, rows, seed)
    return list(model.generate(folder, rows, seed))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--purpose", default="training_data", choices=PURPOSES)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    import generate_data  # the model's own

    for path in generate_purpose(generate_data, args.folder, args.purpose, args.seed, args.rows):
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
