"""The generator: deterministic for a seed, the real January-2016 layouts, realistic values."""

import hashlib

import pandas as pd


def _digest(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_same_seed_same_bytes_other_seed_other_data(kit, tmp_path):
    gen = kit.src("generate_data")
    first = gen.generate(tmp_path / "a", rows=300, seed=5)
    again = gen.generate(tmp_path / "b", rows=300, seed=5)
    other = gen.generate(tmp_path / "c", rows=300, seed=6)
    assert _digest(first) == _digest(again)
    assert _digest(first) != _digest(other)


def test_files_have_the_real_tlc_columns_in_order(kit, raw_pr):
    schema = kit.src("schema")
    green = pd.read_csv(raw_pr / "greenTaxiData.csv")
    yellow = pd.read_csv(raw_pr / "yellowTaxiData.csv")
    assert list(green.columns) == schema.GREEN_FILE_COLUMNS
    assert list(yellow.columns) == schema.YELLOW_FILE_COLUMNS
    assert len(green) + len(yellow) == 600
    for df, pickup in ((green, "lpepPickupDatetime"), (yellow, "tpepPickupDateTime")):
        when = pd.to_datetime(df[pickup], format="%Y-%m-%d %H:%M:%S")
        assert when.min() >= pd.Timestamp("2016-01-01")
        assert when.max() < pd.Timestamp("2016-02-01")
        assert df["vendorID"].isin([1, 2]).all()
        assert df["passengerCount"].between(1, 6).all()


def test_amounts_follow_the_tariff_and_add_up(raw_pr):
    yellow = pd.read_csv(raw_pr / "yellowTaxiData.csv")
    metered = yellow[(yellow["rateCodeId"] == 1) & (yellow["fareAmount"] > 0)]
    # $2.50 flag drop plus $0.50 units: never below 2.50 + 0.50 * 5 * distance - rounding.
    assert ((metered["fareAmount"] - 2.5) % 0.5).abs().max() < 1e-9
    assert (metered["fareAmount"] >= 2.5 + 2.5 * metered["tripDistance"] - 0.5).all()
    parts = ["fareAmount", "extra", "mtaTax", "improvementSurcharge", "tipAmount", "tollsAmount"]
    assert (yellow[parts].sum(axis=1) - yellow["totalAmount"]).abs().max() < 0.011
    # Cash trips record no tip.
    assert (yellow.loc[yellow["paymentType"] == 2, "tipAmount"] == 0).all()
    # Most pickups are inside the city border; some rows carry missing GPS (0,0) like the real data.
    inside = yellow["startLat"].between(40.53, 40.88) & yellow["startLon"].between(-74.09, -73.72)
    assert inside.mean() > 0.95


def test_purposes_write_raw_pairs_or_model_input_batches(kit, tmp_path):
    schema = kit.src("schema")
    kit.generate(tmp_path / "batch", "batch_test_data", rows=90)
    batch = sorted((tmp_path / "batch").iterdir())
    assert [p.name for p in batch] == [f"taxi-batch-{i:02d}.csv" for i in (1, 2, 3)]
    frame = pd.concat(pd.read_csv(p) for p in batch)
    assert list(frame.columns) == [*schema.FEATURES, schema.TARGET]
    assert len(frame) == 90
    kit.generate(tmp_path / "pr", "pr_data", rows=100)
    assert sorted(p.name for p in (tmp_path / "pr").iterdir()) == ["greenTaxiData.csv",
                                                                    "yellowTaxiData.csv"]
