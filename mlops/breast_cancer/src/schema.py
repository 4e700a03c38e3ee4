"""The breast_cancer data contract: the Wisconsin Diagnostic Breast Cancer (WDBC) export, one
row per fine-needle aspirate of a breast mass, as the UCI repository and Kaggle publish it: an
id, the diagnosis (M malignant, B benign) and thirty measurements of the cell nuclei seen in the
digitised image (ten properties, each as mean, standard error and worst value).

The real data ships with scikit-learn (sklearn.datasets.load_breast_cancer): the generator
writes it in this layout, never downloading anything."""

# The ten nucleus properties, in the export's order.
PROPERTIES = [
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave_points", "symmetry", "fractal_dimension",
]
STATISTICS = ["mean", "se", "worst"]  # the export's column groups, in order

ID = "id"
DIAGNOSIS = "diagnosis"
LABELS = {"M": "malignant", "B": "benign"}

# The model's input features: every measurement, in the export's order.
FEATURES = [
    "radius_mean", "texture_mean", "perimeter_mean", "area_mean", "smoothness_mean",
    "compactness_mean", "concavity_mean", "concave_points_mean", "symmetry_mean",
    "fractal_dimension_mean",
    "radius_se", "texture_se", "perimeter_se", "area_se", "smoothness_se", "compactness_se",
    "concavity_se", "concave_points_se", "symmetry_se", "fractal_dimension_se",
    "radius_worst", "texture_worst", "perimeter_worst", "area_worst", "smoothness_worst",
    "compactness_worst", "concavity_worst", "concave_points_worst", "symmetry_worst",
    "fractal_dimension_worst",
]
RAW_COLUMNS = [ID, DIAGNOSIS, *FEATURES]
TARGET = DIAGNOSIS

# What the model predicts: a class, M or B (mlops/tasks.py defines the metrics and the gate).
TASK = "classification"
