"""transform: the model's input features from normalised trips."""

import pandas as pd


def test_features_from_known_trips(kit):
    features = kit.src("features")
    clean = pd.DataFrame({
        "kind": ["green", "yellow"], "vendor": [2, 1],
        "pickup_datetime": ["2016-01-04 08:00:00", "2016-01-09 23:59:30"],  # Monday, Saturday
        "dropoff_datetime": ["2016-01-04 08:30:00", "2016-01-10 00:00:00"],
        "passengers": [1, 3], "distance": [5.0, 0.2],
        "pickup_longitude": [-73.95, -73.98], "pickup_latitude": [40.70, 40.75],
        "dropoff_longitude": [-73.90, -73.97], "dropoff_latitude": [40.72, 40.76],
        "rate_code": [1, 2], "store_forward": ["N", "Y"], "payment_type": [1, 2],
        "cost": [20.0, 52.0], "total_amount": [25.0, 53.0],
    })
    out = features.build_features(clean)
    expected = {"is_yellow": [0, 1], "duration_min": [30.0, 0.5], "speed_mph": [10.0, 24.0],
                "pickup_weekday": [0, 5], "pickup_hour": [8, 23], "store_forward": [0, 1], "cost":
                [20.0, 52.0]}
    assert out[list(expected)].to_dict("list") == expected
