"""The breast_cancer model's own estimator (instead of the factory's default gradient boosting):
standardised measurements into a regularised logistic regression, which suits 569 rows of
strongly correlated measurements and gives calibrated probabilities."""

PARAMS = {"C": 1.0, "max_iter": 1000}


def build(params: dict):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         LogisticRegression(C=params["C"], max_iter=params["max_iter"],
                                            random_state=params["random_state"]))
