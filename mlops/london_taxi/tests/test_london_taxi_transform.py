"""transform: the model's input features from normalised journeys."""

import pandas as pd


def test_features_from_known_journeys(kit):
    features = kit.src("features")
    clean = pd.DataFrame({
        "journey_id": ["LDN-1", "LDN-2"],
        "start_time": ["2024-03-04T08:00:00", "2024-03-09T23:00:00"],  # Monday, Saturday
        "end_time": ["2024-03-04T08:30:00", "2024-03-09T23:45:00"],
        "pickup_district": ["W1", "TW6"], "dropoff_district": ["EC2", "SW1"],
        "pickup_lat": [51.5145, 51.47], "pickup_lon": [-0.144, -0.454],
        "dropoff_lat": [51.518, 51.497], "dropoff_lon": [-0.086, -0.137],
        "distance_km": [6.0, 30.0], "passengers": [1, 2], "tariff": [1, 3],
        "booking": ["street", "app"], "extras_gbp": [0.0, 5.6], "payment": ["card", "cash"],
        "fare_gbp": [21.4, 98.2],
    })
    out = features.build_features(clean)
    expected = {"duration_min": [30.0, 45.0], "speed_kmh": [12.0, 40.0], "is_airport": [0, 1],
                "pickup_weekday": [0, 5], "pickup_hour": [8, 23]}
    assert out[list(expected)].to_dict("list") == expected
