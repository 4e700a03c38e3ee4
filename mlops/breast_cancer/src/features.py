"""The breast_cancer model's features: the thirty measurements as they are (the estimator
scales them), and the diagnosis as the target when present."""

import pandas as pd
from schema import FEATURES, TARGET


def build_features(clean: pd.DataFrame) -> pd.DataFrame:
    out = clean[FEATURES].astype(float)
    if TARGET in clean.columns:
        out = out.assign(**{TARGET: clean[TARGET].astype(str).to_numpy()})
    return out.reset_index(drop=True)
