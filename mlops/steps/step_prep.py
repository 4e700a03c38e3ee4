"""prep: the model's raw data files (--raw_data, a folder) -> <prep_data>/clean.csv, through the
model's own prep.prepare(folder) -> (clean frame, counts). Bad data stops the step with one
line on stderr, 'error: <file>: column <col>: <what>', and writes nothing."""

import argparse
import sys
from pathlib import Path

from factory_steps import DataError, fail, write_atomic
from factory_steps.tracking import log_metrics

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw_data", required=True, help="folder of the model's raw files")
    parser.add_argument("--prep_data", required=True, help="output folder for clean.csv")
    args = parser.parse_args(argv)
    from prep import prepare  # the model's own

    try:
        clean, counts = prepare(Path(args.raw_data))
    except DataError as exc:
        return fail(str(exc))
    target = write_atomic(Path(args.prep_data), "clean.csv",
                          lambda tmp: clean.to_csv(tmp, index=False, date_format=DATE_FORMAT))
    print(f"wrote {target}: {len(clean)} rows; {counts}", flush=True)
    log_metrics({"rows": len(clean), **counts})
    return 0


if __name__ == "__main__":
    sys.exit(main())
