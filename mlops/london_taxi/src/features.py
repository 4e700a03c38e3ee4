"""Feature engineering shared by transform (training) and anything that must build the same model
input from normalised journeys."""

import numpy as np
import pandas as pd
from factory_steps import feature_frame
from schema import DISTRICTS, INTEGER_FEATURES

_MIN_HOURS = 0.5 / 60
_MAX_SPEED_KMH = 150.0
_AIRPORTS = {d for d, (_, _, _, zone) in DISTRICTS.items() if zone == "airport"}


def build_features(clean: pd.DataFrame) -> pd.DataFrame:
    """Normalised journeys (prep's schema) -> FEATURES (+ TARGET when present)."""
    start = pd.to_datetime(clean["start_time"], format="ISO8601")
    end = pd.to_datetime(clean["end_time"], format="ISO8601")
    duration_min = ((end - start).dt.total_seconds() / 60).clip(lower=0)
    hours = np.maximum(duration_min / 60, _MIN_HOURS)
    airport = clean["pickup_district"].isin(_AIRPORTS) | clean["dropoff_district"].isin(_AIRPORTS)
    return feature_frame(
        {
            "distance_km": clean["distance_km"].astype(float),
            "duration_min": duration_min.round(4),
            "speed_kmh": (clean["distance_km"] / hours).clip(upper=_MAX_SPEED_KMH).round(4),
            "tariff": clean["tariff"],
            "passengers": clean["passengers"],
            "extras_gbp": clean["extras_gbp"].astype(float),
            "pickup_lat": clean["pickup_lat"].astype(float),
            "pickup_lon": clean["pickup_lon"].astype(float),
            "dropoff_lat": clean["dropoff_lat"].astype(float),
            "dropoff_lon": clean["dropoff_lon"].astype(float),
            "is_airport": airport.astype(int),
            "pickup_hour": start.dt.hour,
            "pickup_weekday": start.dt.day_of_week,
        },
        clean,
        INTEGER_FEATURES,
    )
