"""What a warm server preloads, and when a step cannot be forked from it."""

from __future__ import annotations

from pathlib import Path

from mlops.pipeline.launch import preload_modules, run_preload, startup_differences


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_preload_takes_module_level_imports_and_heavy_libraries_anywhere(tmp_path):
    code = write(tmp_path / "code", {
        "step.py": "import json\nimport schema\nfrom helpers.io import read\n"
                   "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n"
                   "def main():\n    import matplotlib.pyplot\n    import mlflow.sklearn\n"
                   "    from sklearn.ensemble import HistGradientBoostingRegressor\n",
        "schema.py": "import pandas as pd\n",
        "helpers/__init__.py": "",
        "helpers/io.py": "from . import other\nimport csv\n",
        "broken.py": "def (:\n",
    })
    modules = preload_modules([code])
    assert {"json", "yaml", "pandas", "csv", "mlflow.sklearn", "sklearn.ensemble"} <= set(modules)
    assert "matplotlib.pyplot" not in modules  # imported in a function, not a heavy library
    assert not {"schema", "helpers.io", "helpers"} & set(modules)  # the code folder's own
    # companions: lazily loaded parts of MLflow, and skops (MLflow's sklearn persistence)
    assert {"mlflow.pyfunc", "mlflow.store.tracking.sqlalchemy_store", "skops.io"} <= set(modules)


def test_two_code_folders_with_the_same_module_never_preload_it(tmp_path):
    a = write(tmp_path / "a", {"prep.py": "import schema\n", "schema.py": "import pandas\n"})
    b = write(tmp_path / "b", {"train.py": "import schema\n", "schema.py": "X = 1\n"})
    assert preload_modules([a, b]) == ["pandas"]


def test_start_up_variables_that_differ_prevent_forking():
    base = {"PATH": "/bin", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    assert startup_differences({**base, "MLFLOW_RUN_ID": "r"}, base) == []
    assert startup_differences({**base, "OMP_NUM_THREADS": "2", "PYTHONPATH": "/x"}, base) == \
        ["OMP_NUM_THREADS", "PYTHONPATH"]
    assert startup_differences({k: v for k, v in base.items() if k != "LANG"}, base) == ["LANG"]


def test_variables_a_preloaded_library_sets_for_itself_do_not_prevent_forking():
    """scikit-learn's __init__ sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK with setdefault:
    the server that preloaded it has them; a caller that imported it too passes them on, one
    that did not lacks them. Both are what a new interpreter importing scikit-learn would get;
    only a different value is a real difference."""
    base = {"PATH": "/bin", "OMP_NUM_THREADS": "1"}
    library = {"KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}
    assert startup_differences({**base, **library}, base, library) == []
    assert startup_differences(base, base, library) == []
    assert startup_differences({**base, "KMP_INIT_AT_FORK": "TRUE"}, base, library) == \
        ["KMP_INIT_AT_FORK"]
    assert startup_differences({**base, **library}, base) == ["KMP_DUPLICATE_LIB_OK",
                                                              "KMP_INIT_AT_FORK"]


def test_one_run_preloads_what_its_script_reaches_not_the_whole_folder(tmp_path):
    code = write(tmp_path / "code", {
        "step_prep.py": "import pandas\nfrom helpers import io\n"
                        "def main():\n    import scipy.stats\n",
        "step_train.py": "import sklearn.ensemble\n",
        "helpers/__init__.py": "",
        "helpers/io.py": "import csv\nfrom helpers.deep import x\n"
                         "def save():\n    import mlflow\n",  # a pipeline run's: not preloaded
        "helpers/deep.py": "import decimal\n"
                           "def real_rows():\n    import sklearn.datasets\n",  # a generator's
        "pkg/__init__.py": "",
        "pkg/gen.py": "import numpy\nimport schema\n",
        "schema.py": "import json\n",
    })
    assert set(run_preload(code, ["step_prep.py", "--x", "1"])) == \
        {"pandas", "scipy.stats", "csv", "decimal", "sklearn.datasets", "sklearn.base",
         "sklearn.utils"}
    assert set(run_preload(code, ["-m", "pkg.gen"])) == {"numpy", "json"}
    assert "sklearn.ensemble" in preload_modules([code])  # a pipeline's server takes them all
    assert "mlflow" in preload_modules([code])
    # the script's own function-level import of MLflow is preloaded: the run itself uses it
    (code / "step_register.py").write_text("from helpers import io\ndef main():\n"
                                           "    import mlflow\n")
    assert "mlflow" in run_preload(code, ["step_register.py"])


def test_a_builds_unit_tests_preload_their_libraries_never_the_factory(tmp_path):
    from mlops.pipeline.launch import check_preload

    tests = write(tmp_path / "tests", {
        "conftest.py": "import json\nfrom mlops.testkit import kit\n",
        "test_a.py": "import pandas as pd\nimport helper\nfrom mlops.tasks import task\n"
                     "def test_x():\n    from azure.ai.ml import load_job\n",
        "helper.py": "import decimal\n",
    })
    modules = check_preload([tests])
    assert modules[0] == "pytest"
    assert {"json", "pandas", "decimal", "azure.ai.ml"} <= set(modules)
    assert not [m for m in modules if m.split(".")[0] in ("mlops", "helper", "conftest")]
