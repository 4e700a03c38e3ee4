"""Deterministic generator of realistic London black-cab journeys (March 2024, TfL tariffs, km and
GBP), used when the model's data folder is empty.

Raw purposes write journeys in two monthly-half files; batch_test_data writes a few files of model
input rows (schema.FEATURES, plus the target, which the scorer ignores)."""

from pathlib import Path

import numpy as np
import pandas as pd
from factory_steps.generate import write_halves
from schema import (
    BOOKING_FEE,
    DISTRICTS,
    HEATHROW_EXTRA,
    INCLUDED_KM,
    MINIMUM_FARE,
    RATE_PER_KM,
    RATE_PER_KM_AFTER_SIX_MILES,
    RATE_PER_MIN_SLOW,
    RAW_COLUMNS,
    SIX_MILES_KM,
)

DEFAULT_SEED = 2024
BATCH_PREFIX = "journeys-batch"
_ZONE_WEIGHT = {"central": 6.0, "inner": 2.5, "outer": 1.0, "airport": 2.0}
_HOURLY = np.array([5, 4, 3, 2, 1, 1, 3, 6, 9, 9, 7, 7, 8, 8, 7, 7, 8, 9, 10, 10, 9, 8, 8, 7],
                   dtype=float)
_GOOD_FRIDAY = pd.Timestamp("2024-03-29")  # a public holiday: tariff 3 all day
_KM_PER_DEG_LAT = 111.2
_KM_PER_DEG_LON = 69.4  # at 51.5 N
_SLOW_KMH = 17.0  # below this the meter charges by time


def tariff_for(start: pd.DatetimeIndex) -> np.ndarray:
    """TfL: 1 weekdays 05-20; 2 weekdays 20-22 and weekends 05-22; 3 nights 22-05 and holidays."""
    hour = start.hour.to_numpy()
    weekend = start.day_of_week.to_numpy() >= 5
    night = (hour >= 22) | (hour < 5)
    holiday = start.normalize() == _GOOD_FRIDAY
    tariff = np.where(weekend | (hour >= 20), 2, 1)
    return np.where(night | holiday, 3, tariff)


def meter_fare(distance_km, slow_min, tariff) -> np.ndarray:
    """Minimum fare, then distance (moving) plus time (slow) by tariff, rounded up to 20p."""
    per_km = np.vectorize(RATE_PER_KM.get)(tariff)
    per_min = np.vectorize(RATE_PER_MIN_SLOW.get)(tariff)
    first = np.clip(distance_km, 0, SIX_MILES_KM) - INCLUDED_KM
    beyond = np.maximum(distance_km - SIX_MILES_KM, 0)
    meter = MINIMUM_FARE + np.maximum(first, 0) * per_km + beyond * RATE_PER_KM_AFTER_SIX_MILES
    meter = meter + slow_min * per_min
    return (np.ceil(np.round(meter / 0.2, 6)) * 0.2).round(2)


def _journeys(rows: int, rng: np.random.Generator, first_id: int) -> pd.DataFrame:
    n = rows
    names = list(DISTRICTS)
    weights = np.array([_ZONE_WEIGHT[DISTRICTS[d][3]] for d in names])
    weights[names.index("TW6")] = 0.9  # Heathrow: a few long journeys
    p = weights / weights.sum()
    pickup = rng.choice(names, n, p=p)
    dropoff = rng.choice(names, n, p=p)

    day = rng.integers(1, 32, n)
    hour = rng.choice(24, n, p=_HOURLY / _HOURLY.sum())
    start = (pd.Timestamp("2024-03-01") + pd.to_timedelta(day - 1, unit="D")
             + pd.to_timedelta(hour, unit="h")
             + pd.to_timedelta(rng.integers(0, 3600, n), unit="s"))

    def coords(d):
        return (np.array([DISTRICTS[x][1] for x in d]), np.array([DISTRICTS[x][2] for x in d]))

    (lat0, lon0), (lat1, lon1) = coords(pickup), coords(dropoff)
    # Addresses spread about 1 km around each district centroid.
    dlat = (lat1 - lat0) * _KM_PER_DEG_LAT + rng.normal(0, 0.9, n)
    dlon = (lon1 - lon0) * _KM_PER_DEG_LON + rng.normal(0, 0.9, n)
    crow = np.hypot(dlat, dlon)
    distance = np.clip(crow * rng.uniform(1.25, 1.5, n), 0.3, None).round(2)

    busy = (hour >= 7) & (hour < 19) & (start.day_of_week.to_numpy() < 5)
    speed = np.where(busy, 13.0, 21.0) * rng.lognormal(0, 0.25, n)
    speed = np.where(distance > 12, speed * 1.8, speed)  # arterial roads to the airport
    duration_min = distance / speed * 60 + rng.exponential(0.8, n)
    end = start + pd.to_timedelta((duration_min * 60).round(), unit="s")
    cruise = np.maximum(speed * 1.7, _SLOW_KMH + 5)
    slow_min = np.maximum(duration_min - distance / cruise * 60, 0)

    tariff = tariff_for(start)
    booking = rng.choice(["street", "rank", "app", "phone"], n, p=[0.55, 0.25, 0.15, 0.05])
    extras = np.where(pickup == "TW6", HEATHROW_EXTRA, 0.0)
    extras = extras + np.where(np.isin(booking, ["app", "phone"]), BOOKING_FEE, 0.0)
    fare = (meter_fare(distance, slow_min, tariff) + extras).round(2)
    payment = rng.choice(["card", "contactless", "cash", "account"], n,
                         p=[0.45, 0.40, 0.10, 0.05])
    passengers = rng.choice([1, 2, 3, 4, 5], n, p=[0.62, 0.22, 0.08, 0.06, 0.02])

    # Noise prep must drop: no-charge journeys, zero distance (meter not run), clock errors.
    no_charge = rng.random(n) < 0.004
    fare = np.where(no_charge, 0.0, fare)
    payment = np.where(no_charge, "no_charge", payment)
    distance = np.where(rng.random(n) < 0.004, 0.0, distance)
    clock = rng.random(n) < 0.002
    end = end.where(~clock, start - pd.Timedelta(minutes=1))

    fmt = "%Y-%m-%dT%H:%M:%S"
    df = pd.DataFrame({
        "journey_id": [f"LDN-{first_id + i:07d}" for i in range(n)],
        "start_time": start.strftime(fmt), "end_time": end.strftime(fmt),
        "pickup_district": pickup, "pickup_borough": [DISTRICTS[d][0] for d in pickup],
        "dropoff_district": dropoff, "dropoff_borough": [DISTRICTS[d][0] for d in dropoff],
        "distance_km": distance, "passengers": passengers, "tariff": tariff,
        "booking": booking, "extras_gbp": extras.round(2), "payment": payment,
        "fare_gbp": fare,
    })
    return df[list(RAW_COLUMNS)]


def generate(folder, rows: int, seed: int) -> list[Path]:
    """Write journeys_2024_03_a.csv and journeys_2024_03_b.csv (rows split evenly)."""
    rng = np.random.default_rng(seed)
    return write_halves(folder, ("journeys_2024_03_a.csv", "journeys_2024_03_b.csv"), rows,
                        lambda count, first: _journeys(count, rng, 1 + first))
