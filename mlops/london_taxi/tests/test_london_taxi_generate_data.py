"""The generator: deterministic for a seed, the London journey schema, TfL tariff rules."""

import hashlib

import numpy as np
import pandas as pd


def _digest(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_same_seed_same_bytes_other_seed_other_data(kit, tmp_path):
    gen = kit.src("generate_data")
    first = gen.generate(tmp_path / "a", rows=300, seed=5)
    assert _digest(first) == _digest(gen.generate(tmp_path / "b", rows=300, seed=5))
    assert _digest(first) != _digest(gen.generate(tmp_path / "c", rows=300, seed=6))


def test_journeys_have_the_london_schema(kit, raw_pr):
    schema = kit.src("schema")
    frame = pd.concat(pd.read_csv(p) for p in sorted(raw_pr.glob("*.csv")))
    assert list(frame.columns) == list(schema.RAW_COLUMNS)
    assert len(frame) == 600 and frame["journey_id"].is_unique
    start = pd.to_datetime(frame["start_time"], format="%Y-%m-%dT%H:%M:%S")
    assert start.min() >= pd.Timestamp("2024-03-01") and start.max() < pd.Timestamp("2024-04-01")
    assert frame["pickup_district"].isin(schema.DISTRICTS).all()
    boroughs = frame["pickup_district"].map(lambda d: schema.DISTRICTS[d][0])
    assert (boroughs == frame["pickup_borough"]).all()
    assert frame["tariff"].isin(schema.TARIFFS).all()


def test_tariff_follows_day_and_time(kit):
    gen = kit.src("generate_data")
    when = pd.DatetimeIndex([
        "2024-03-04 12:00",  # Monday noon: 1
        "2024-03-04 20:30",  # Monday evening: 2
        "2024-03-09 12:00",  # Saturday noon: 2
        "2024-03-05 23:00",  # night: 3
        "2024-03-29 12:00",  # Good Friday: 3
    ])
    assert gen.tariff_for(when).tolist() == [1, 2, 2, 3, 3]


def test_meter_has_a_minimum_and_charges_more_at_night(kit):
    gen = kit.src("generate_data")
    schema = kit.src("schema")
    short = gen.meter_fare(np.array([0.1]), np.array([0.0]), np.array([1]))
    assert short.tolist() == [schema.MINIMUM_FARE]
    day, night = gen.meter_fare(np.array([5.0, 5.0]), np.array([3.0, 3.0]), np.array([1, 3]))
    assert night > day
    assert round(day * 100) % 20 == 0  # whole 20p steps
