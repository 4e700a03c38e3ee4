"""Deterministic generator of realistic NYC TLC trips in the January-2016 green and yellow layouts
(Azure Open Datasets column names), used when the model's data folder is empty.

Raw purposes write greenTaxiData.csv + yellowTaxiData.csv; batch_test_data writes a few files of
model input rows (schema.FEATURES, plus the target, which the scorer ignores)."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
from factory_steps.generate import write_halves
from schema import GREEN, GREEN_FILE_COLUMNS, YELLOW, YELLOW_FILE_COLUMNS

DEFAULT_SEED = 2016
BATCH_PREFIX = "taxi-batch"

# Where each kind picks up: (lat, lon, spread in degrees, weight). Yellow cabs work Manhattan
# below 96th St; green cabs the outer boroughs and upper Manhattan.
_AREAS = {
    YELLOW: [(40.754, -73.984, 0.018, 0.75), (40.725, -73.998, 0.012, 0.17),
             (40.774, -73.872, 0.004, 0.04), (40.645, -73.785, 0.005, 0.04)],
    GREEN: [(40.810, -73.948, 0.015, 0.35), (40.690, -73.960, 0.020, 0.30),
            (40.745, -73.900, 0.020, 0.25), (40.840, -73.900, 0.015, 0.10)],
}
# Relative pickups per hour of day (TLC: trough at 5am, evening peak).
_HOURLY = np.array([7, 5, 4, 3, 2, 2, 4, 7, 9, 9, 8, 8, 8, 8, 9, 9, 9, 10, 11, 11, 10, 10, 10, 9],
                   dtype=float)
_MILES_PER_DEG_LAT = 69.0
_MILES_PER_DEG_LON = 52.4  # at 40.7 N


def _speed_mph(hour, rng, n):
    """Average street speed: ~8 mph in the day, ~15 mph at night, lognormal spread."""
    base = np.where((hour >= 7) & (hour < 20), 8.5, 14.0)
    return base * rng.lognormal(0.0, 0.25, n)


def _trips(kind: str, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    n = rows
    day = rng.integers(1, 32, n)
    hour = rng.choice(24, n, p=_HOURLY / _HOURLY.sum())
    seconds = rng.integers(0, 3600, n)
    pickup = (pd.Timestamp("2016-01-01") + pd.to_timedelta(day - 1, unit="D")
              + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(seconds, unit="s"))

    areas = _AREAS[kind]
    which = rng.choice(len(areas), n, p=[a[3] for a in areas])
    spread = np.array([areas[i][2] for i in which])
    lat0 = np.array([areas[i][0] for i in which]) + rng.normal(0, 1, n) * spread
    lon0 = np.array([areas[i][1] for i in which]) + rng.normal(0, 1, n) * spread
    lat0, lon0 = lat0.round(6), lon0.round(6)  # GPS precision

    distance = np.clip(rng.lognormal(math.log(1.7), 0.75, n), 0.1, 35.0).round(2)
    rate = rng.choice([1, 2, 3, 4, 5], n, p=[0.975, 0.012, 0.002, 0.002, 0.009])
    distance = np.where(rate == 2, rng.uniform(15, 22, n).round(2), distance)  # JFK flat fare
    angle = rng.uniform(0, 2 * math.pi, n)
    crow = distance / rng.uniform(1.2, 1.45, n)  # street distance exceeds the straight line
    lat1 = lat0 + crow * np.sin(angle) / _MILES_PER_DEG_LAT
    lon1 = (lon0 + crow * np.cos(angle) / _MILES_PER_DEG_LON).round(6)
    lat1 = lat1.round(6)

    speed = _speed_mph(hour, rng, n)
    duration_min = distance / speed * 60 + rng.exponential(1.0, n)
    dropoff = pickup + pd.to_timedelta((duration_min * 60).round(), unit="s")

    # Meter: $2.50 on entry, $0.50 per 1/5 mile moving or per minute stopped/slow (< 12 mph).
    cruise = np.maximum(speed * 1.6, 12.0)
    slow_min = np.maximum(duration_min - distance / cruise * 60, 0)
    fare = 2.5 + 0.5 * np.round(distance * 5 + slow_min)
    fare = np.where(rate == 2, 52.0, fare)
    fare = np.where(rate == 3, fare + 17.5, fare)  # Newark: meter plus surcharge
    fare = np.where(rate == 5, rng.uniform(10, 80, n).round(0), fare)  # negotiated
    weekday = pickup.day_of_week.to_numpy()
    extra = np.where((hour >= 20) | (hour < 6), 0.5,
                     np.where((hour >= 16) & (weekday < 5), 1.0, 0.0))
    extra = np.where(rate == 2, 0.0, extra)
    payment = rng.choice([1, 2, 3, 4], n, p=[0.62, 0.36, 0.015, 0.005] if kind == YELLOW
                         else [0.48, 0.50, 0.015, 0.005])
    tip = np.where(payment == 1, (fare * rng.choice([0.0, 0.15, 0.2, 0.25, 0.3], n,
                                                   p=[0.15, 0.2, 0.4, 0.15, 0.1])).round(2), 0.0)
    tolls = np.where((distance > 8) & (rng.random(n) < 0.35), 5.54, 0.0).astype(float)
    mta = np.full(n, 0.5)
    improvement = np.full(n, 0.3)

    # Real-data noise the filters must remove: voided trips, zero distance, missing GPS.
    void = rng.random(n) < 0.004
    fare, extra, mta, improvement = (
        np.where(void, -v, v).astype(float) for v in (fare, extra, mta, improvement)
    )
    payment = np.where(void, 3, payment)
    distance = np.where(rng.random(n) < 0.006, 0.0, distance)
    no_gps = rng.random(n) < 0.012
    lat0, lon0, lat1, lon1 = (np.where(no_gps, 0.0, v) for v in (lat0, lon0, lat1, lon1))
    total = (fare + extra + mta + improvement + tip + tolls).round(2)

    vendor = rng.choice([1, 2], n, p=[0.46, 0.54] if kind == YELLOW else [0.22, 0.78])
    passengers = rng.choice([1, 2, 3, 4, 5, 6], n, p=[0.70, 0.14, 0.04, 0.02, 0.06, 0.04])
    store = np.where(rng.random(n) < 0.005, "Y", "N")
    fmt = "%Y-%m-%d %H:%M:%S"
    common = {
        "vendorID": vendor, "passengerCount": passengers, "tripDistance": distance,
        "puLocationId": "", "doLocationId": "", "storeAndFwdFlag": store,
        "paymentType": payment, "fareAmount": fare.round(2), "extra": extra, "mtaTax": mta,
        "improvementSurcharge": improvement, "tipAmount": tip, "tollsAmount": tolls,
        "totalAmount": total,
    }
    if kind == GREEN:
        df = pd.DataFrame({
            **common,
            "lpepPickupDatetime": pickup.strftime(fmt), "lpepDropoffDatetime": dropoff.strftime(fmt),
            "pickupLongitude": lon0, "pickupLatitude": lat0, "dropoffLongitude": lon1,
            "dropoffLatitude": lat1, "rateCodeID": rate, "ehailFee": "",
            "tripType": np.where(rate == 5, 2.0, 1.0),
        })
        return df[GREEN_FILE_COLUMNS]
    df = pd.DataFrame({
        **common,
        "tpepPickupDateTime": pickup.strftime(fmt), "tpepDropoffDateTime": dropoff.strftime(fmt),
        "startLon": lon0, "startLat": lat0, "endLon": lon1, "endLat": lat1, "rateCodeId": rate,
    })
    return df[YELLOW_FILE_COLUMNS]


def generate(folder, rows: int, seed: int) -> list[Path]:
    """Write greenTaxiData.csv and yellowTaxiData.csv (rows split evenly) into folder."""
    rng = np.random.default_rng(seed)
    return write_halves(folder, ("greenTaxiData.csv", "yellowTaxiData.csv"), rows,
                        lambda count, first: _trips(YELLOW if first else GREEN, count, rng))
