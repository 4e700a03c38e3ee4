"""The nyc_taxi data contract: raw TLC column names (January 2016, as in the Azure Open Datasets
export), the normalised schema prep writes, and the model's input features (the serving side relies
on FEATURES: an online request or batch file carries exactly these columns)."""

GREEN = "green"
YELLOW = "yellow"

# Raw column -> normalised column. Green files use lpep* datetimes and pickup*/dropoff* coordinates,
# yellow files tpep* datetimes and start*/end* coordinates; the rest is shared.
_SHARED = {
    "vendorID": "vendor",
    "passengerCount": "passengers",
    "tripDistance": "distance",
    "storeAndFwdFlag": "store_forward",
    "paymentType": "payment_type",
    "fareAmount": "cost",
    "totalAmount": "total_amount",
}
GREEN_COLUMNS = {
    "lpepPickupDatetime": "pickup_datetime",
    "lpepDropoffDatetime": "dropoff_datetime",
    "pickupLongitude": "pickup_longitude",
    "pickupLatitude": "pickup_latitude",
    "dropoffLongitude": "dropoff_longitude",
    "dropoffLatitude": "dropoff_latitude",
    "rateCodeID": "rate_code",
    **_SHARED,
}
YELLOW_COLUMNS = {
    "tpepPickupDateTime": "pickup_datetime",
    "tpepDropoffDateTime": "dropoff_datetime",
    "startLon": "pickup_longitude",
    "startLat": "pickup_latitude",
    "endLon": "dropoff_longitude",
    "endLat": "dropoff_latitude",
    "rateCodeId": "rate_code",
    **_SHARED,
}
RAW_COLUMNS = {GREEN: GREEN_COLUMNS, YELLOW: YELLOW_COLUMNS}

# Full raw layouts in file order (what the generator writes; prep needs only the mapped ones).
GREEN_FILE_COLUMNS = [
    "vendorID", "lpepPickupDatetime", "lpepDropoffDatetime", "passengerCount", "tripDistance",
    "puLocationId", "doLocationId", "pickupLongitude", "pickupLatitude", "dropoffLongitude",
    "dropoffLatitude", "rateCodeID", "storeAndFwdFlag", "paymentType", "fareAmount", "extra",
    "mtaTax", "improvementSurcharge", "tipAmount", "tollsAmount", "ehailFee", "totalAmount",
    "tripType",
]
YELLOW_FILE_COLUMNS = [
    "vendorID", "tpepPickupDateTime", "tpepDropoffDateTime", "passengerCount", "tripDistance",
    "puLocationId", "doLocationId", "startLon", "startLat", "endLon", "endLat", "rateCodeId",
    "storeAndFwdFlag", "paymentType", "fareAmount", "extra", "mtaTax", "improvementSurcharge",
    "tipAmount", "tollsAmount", "totalAmount",
]

DATETIME_COLUMNS = ["pickup_datetime", "dropoff_datetime"]
TEXT_COLUMNS = ["store_forward"]
# Normalised schema prep writes (kind first, then the mapped columns in a fixed order).
CLEAN_COLUMNS = [
    "kind", "vendor", "pickup_datetime", "dropoff_datetime", "passengers", "distance",
    "pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude", "rate_code",
    "store_forward", "payment_type", "cost", "total_amount",
]

# The seed's city-border filter. Its dropoff longitude bound of -74.72 (not -74.09) is kept on
# purpose: it reproduces the seed's 9,773 rows on the real January-2016 sample.
BOUNDS = {
    "pickup_longitude": (-74.09, -73.72),
    "pickup_latitude": (40.53, 40.88),
    "dropoff_longitude": (-74.72, -73.72),
    "dropoff_latitude": (40.53, 40.88),
}

# The model's input features, in order (transform writes them; train fits on them).
FEATURES = [
    "is_yellow", "vendor", "passengers", "distance", "duration_min", "speed_mph", "rate_code",
    "store_forward", "pickup_longitude", "pickup_latitude", "dropoff_longitude",
    "dropoff_latitude", "pickup_weekday", "pickup_hour", "pickup_monthday", "pickup_minute",
]
INTEGER_FEATURES = [
    "is_yellow", "vendor", "passengers", "rate_code", "store_forward", "pickup_weekday",
    "pickup_hour", "pickup_monthday", "pickup_minute",
]
# The seed's target: fareAmount, renamed "cost" (the seed's LinearRegression R2 0.86 is on it).
TARGET = "cost"

# What the model predicts: a number (mlops/tasks.py defines the metrics and the gate).
TASK = "regression"
