"""The london_taxi data contract: the raw black-cab journey export (one row per journey, metric
distances, GBP, TfL tariffs), the postcode districts it may name, the normalised schema prep
writes, and the model's input features (serving relies on FEATURES)."""

# Raw columns, in file order, with the type prep checks.
RAW_COLUMNS = {
    "journey_id": "text",
    "start_time": "datetime",
    "end_time": "datetime",
    "pickup_district": "district",
    "pickup_borough": "text",
    "dropoff_district": "district",
    "dropoff_borough": "text",
    "distance_km": "number",
    "passengers": "number",
    "tariff": "tariff",
    "booking": "text",
    "extras_gbp": "number",
    "payment": "text",
    "fare_gbp": "number",
}

# Postcode district -> (borough, latitude, longitude, zone). Centroids, rounded.
DISTRICTS = {
    "W1": ("Westminster", 51.5145, -0.1440, "central"),
    "WC1": ("Camden", 51.5220, -0.1220, "central"),
    "WC2": ("Westminster", 51.5120, -0.1230, "central"),
    "EC1": ("Islington", 51.5240, -0.1000, "central"),
    "EC2": ("City of London", 51.5180, -0.0860, "central"),
    "EC3": ("City of London", 51.5120, -0.0800, "central"),
    "EC4": ("City of London", 51.5130, -0.1020, "central"),
    "SW1": ("Westminster", 51.4970, -0.1370, "central"),
    "SE1": ("Southwark", 51.5010, -0.0950, "central"),
    "NW1": ("Camden", 51.5330, -0.1450, "inner"),
    "N1": ("Islington", 51.5380, -0.0980, "inner"),
    "E1": ("Tower Hamlets", 51.5170, -0.0590, "inner"),
    "E14": ("Tower Hamlets", 51.5030, -0.0190, "inner"),
    "SW3": ("Kensington and Chelsea", 51.4900, -0.1680, "inner"),
    "SW7": ("Kensington and Chelsea", 51.4960, -0.1760, "inner"),
    "W2": ("Westminster", 51.5140, -0.1800, "inner"),
    "W8": ("Kensington and Chelsea", 51.5010, -0.1930, "inner"),
    "W11": ("Kensington and Chelsea", 51.5150, -0.2050, "inner"),
    "SW11": ("Wandsworth", 51.4650, -0.1650, "outer"),
    "SE10": ("Greenwich", 51.4820, 0.0000, "outer"),
    "NW3": ("Camden", 51.5530, -0.1700, "outer"),
    "N7": ("Islington", 51.5540, -0.1160, "outer"),
    "E15": ("Newham", 51.5410, 0.0030, "outer"),
    "E16": ("Newham", 51.5070, 0.0300, "outer"),
    "W6": ("Hammersmith and Fulham", 51.4930, -0.2290, "outer"),
    "TW6": ("Hillingdon", 51.4700, -0.4540, "airport"),
}

TARIFFS = (1, 2, 3)

# TfL-style meter (approximate 2024 rates): minimum fare, then per km moving or per minute when
# slow, by tariff; beyond six miles one higher rate applies whatever the tariff.
MINIMUM_FARE = 3.80
INCLUDED_KM = 0.234
RATE_PER_KM = {1: 1.60, 2: 1.85, 3: 2.20}
RATE_PER_MIN_SLOW = {1: 0.55, 2: 0.60, 3: 0.70}
SIX_MILES_KM = 9.656
RATE_PER_KM_AFTER_SIX_MILES = 2.90
HEATHROW_EXTRA = 3.60
BOOKING_FEE = 2.00

CLEAN_COLUMNS = [
    "journey_id", "start_time", "end_time", "pickup_district", "dropoff_district",
    "pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon", "distance_km", "passengers",
    "tariff", "booking", "extras_gbp", "payment", "fare_gbp",
]

FEATURES = [
    "distance_km", "duration_min", "speed_kmh", "tariff", "passengers", "extras_gbp",
    "pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon", "is_airport", "pickup_hour",
    "pickup_weekday",
]
INTEGER_FEATURES = ["tariff", "passengers", "is_airport", "pickup_hour", "pickup_weekday"]
TARGET = "fare_gbp"

# What the model predicts: a number (mlops/tasks.py defines the metrics and the gate).
TASK = "regression"
