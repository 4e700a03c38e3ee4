"""transform: <clean_data>/clean.csv -> the model's features and target
(<transformed_data>/transformed.csv), through the model's own features.build_features."""

import argparse
import sys
from pathlib import Path

import pandas as pd
from factory_steps import contract, fail, write_atomic
from factory_steps.tracking import log_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean_data", required=True)
    parser.add_argument("--transformed_data", required=True)
    args = parser.parse_args(argv)
    from features import build_features  # the model's own

    _, features, target = contract()
    frame = build_features(pd.read_csv(Path(args.clean_data) / "clean.csv"))
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        return fail(f"features.build_features: column {missing[0]}: missing from its result "
                    f"(schema.FEATURES + TARGET must all be there)")
    out = write_atomic(Path(args.transformed_data), "transformed.csv",
                       lambda tmp: frame[[*features, target]].to_csv(tmp, index=False))
    print(f"wrote {out}: {len(frame)} rows, {len(features)} features", flush=True)
    log_metrics({"rows": len(frame)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
