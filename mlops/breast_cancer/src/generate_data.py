"""The breast_cancer data for an empty data folder: the real WDBC rows that scikit-learn ships
(load_breast_cancer, 569 aspirates), written in the export's layout with stable ids. A request
for more rows than the data has samples the real rows again (with replacement)."""

from pathlib import Path

import numpy as np
import pandas as pd
from factory_steps.generate import write_csv
from schema import DIAGNOSIS, FEATURES, ID, RAW_COLUMNS

SIZES = {"pr_data": 300, "training_data": 569, "batch_test_data": 100}
DEFAULT_SEED = 1995  # the year the WDBC data was published
BATCH_PREFIX = "aspirates-batch"
FIRST_ID = 842302  # the first id of the original export


def real_rows() -> pd.DataFrame:
    """Every real row, in scikit-learn's order, with the export's column names and ids."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame.columns = FEATURES  # sklearn's names ("mean radius", ...) in the same order
    frame.insert(0, DIAGNOSIS, np.where(data.target == 0, "M", "B"))  # 0 is malignant
    frame.insert(0, ID, FIRST_ID + np.arange(len(frame)) * 7)
    return frame[RAW_COLUMNS]


def generate(folder, rows: int, seed: int) -> list[Path]:
    """Write aspirates.csv: ``rows`` real rows chosen by ``seed``."""
    real = real_rows()
    rng = np.random.default_rng(seed)
    if rows <= len(real):
        chosen = real.iloc[np.sort(rng.choice(len(real), rows, replace=False))]
    else:
        picks = rng.choice(len(real), rows, replace=True)
        chosen = real.iloc[picks].assign(**{ID: FIRST_ID + 7 * len(real) + np.arange(rows)})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_csv(chosen, folder / "aspirates.csv")]
