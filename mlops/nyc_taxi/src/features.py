"""Feature engineering shared by transform (training) and anything that must build the same model
input from normalised trips."""

import numpy as np
import pandas as pd
from factory_steps import feature_frame
from schema import INTEGER_FEATURES, YELLOW

_MIN_HOURS = 0.5 / 60  # half a minute: keeps speed finite for sub-minute trips
_MAX_SPEED_MPH = 200.0


def build_features(clean: pd.DataFrame) -> pd.DataFrame:
    """Normalised trips (prep's schema) -> FEATURES (+ TARGET when present), in FEATURES order."""
    pickup = pd.to_datetime(clean["pickup_datetime"], format="ISO8601")
    dropoff = pd.to_datetime(clean["dropoff_datetime"], format="ISO8601")
    duration_min = ((dropoff - pickup).dt.total_seconds() / 60).clip(lower=0)
    hours = np.maximum(duration_min / 60, _MIN_HOURS)
    return feature_frame(
        {
            "is_yellow": (clean["kind"] == YELLOW).astype(int),
            "vendor": clean["vendor"],
            "passengers": clean["passengers"],
            "distance": clean["distance"].astype(float),
            "duration_min": duration_min.round(4),
            "speed_mph": (clean["distance"] / hours).clip(upper=_MAX_SPEED_MPH).round(4),
            "rate_code": clean["rate_code"],
            "store_forward": (clean["store_forward"].astype(str).str.upper() == "Y").astype(int),
            "pickup_longitude": clean["pickup_longitude"].astype(float),
            "pickup_latitude": clean["pickup_latitude"].astype(float),
            "dropoff_longitude": clean["dropoff_longitude"].astype(float),
            "dropoff_latitude": clean["dropoff_latitude"].astype(float),
            "pickup_weekday": pickup.dt.day_of_week,
            "pickup_hour": pickup.dt.hour,
            "pickup_monthday": pickup.dt.day,
            "pickup_minute": pickup.dt.minute,
        },
        clean,
        INTEGER_FEATURES,
    )
