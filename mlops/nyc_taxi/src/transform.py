"""transform: normalised trips (<clean_data>/clean.csv) -> model features + target
(<transformed_data>/transformed.csv)."""

import argparse
import sys
from pathlib import Path

import pandas as pd
from features import build_features
from tracking import log_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean_data", required=True)
    parser.add_argument("--transformed_data", required=True)
    args = parser.parse_args(argv)
    clean = pd.read_csv(Path(args.clean_data) / "clean.csv")
    features = build_features(clean)
    out = Path(args.transformed_data)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".transformed.csv.tmp"
    features.to_csv(tmp, index=False)
    tmp.replace(out / "transformed.csv")
    print(f"wrote {out / 'transformed.csv'}: {len(features)} rows, {features.shape[1]} columns")
    log_metrics({"rows": len(features)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
