"""ModelKit: one model's staged code folder, and ways to run and import from it in tests."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mlops.plugins import ModelPlugin, read_plugin
from mlops.staging import StagedModel, stage
from mlops.testkit import warm


@dataclass
class ModelKit:
    plugin: ModelPlugin
    staged: StagedModel

    @classmethod
    def staged(cls, model_dir: Path, root: Path) -> ModelKit:
        plugin = read_plugin(model_dir)
        return cls(plugin, stage(plugin, f"{plugin.name}_env", root=root))

    @property
    def model_dir(self) -> Path:
        return self.plugin.folder

    @property
    def code(self) -> Path:
        return self.staged.code

    def env(self, **extra: str) -> dict[str, str]:
        """A step's environment: the factory's, without a pipeline run unless one is given."""
        from mlops._environment import tool_environment

        env = {k: v for k, v in tool_environment().items() if not k.startswith("MLFLOW_")
               and k != "FACTORY_STEP_METRICS"}
        env.update(extra)
        return env

    def run(self, script: str, *args, env: dict[str, str] | None = None, check: bool = True,
            module: bool = False) -> subprocess.CompletedProcess:
        """Run a step script (or ``module=True``: a module with -m) in the staged code folder,
        as the runner does: its own process, forked from a warm interpreter (testkit/warm.py)."""
        argv = [*(["-m"] if module else []), script, *map(str, args)]
        result = warm.run(argv, self.code, env or self.env())
        if check and result.returncode != 0:
            raise AssertionError(f"{script} failed ({result.returncode}):\n"
                                 f"{(result.stdout + result.stderr)[-3000:]}")
        return result

    def generate(self, folder: Path, purpose: str, *, rows: int | None = None,
                 seed: int | None = None) -> Path:
        args = ["--folder", folder, "--purpose", purpose]
        args += ["--rows", rows] if rows else []
        args += ["--seed", seed] if seed is not None else []
        self.run("factory_steps.generate", *args, module=True)
        return Path(folder)

    def src(self, name: str) -> ModuleType:
        """Import a module from the staged code folder. Every model has its own schema, prep,
        features...: modules of another code folder are evicted first."""
        code = str(self.code)
        for key, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if "/staged/" in origin and not origin.startswith(code):
                del sys.modules[key]
        sys.path[:] = [p for p in sys.path if "/staged/" not in p or p == code]
        if code not in sys.path:
            sys.path.insert(0, code)
        return importlib.import_module(name)


def write_plugin(folder: Path, task: str, features: list[str], target: str) -> Path:
    """A minimal model plugin over a plain table: prep reads every CSV of the raw folder,
    features passes the columns through. For factory tests that need a model of their own."""
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "schema.py").write_text(f"TASK = {task!r}\nFEATURES = {features!r}\n"
                                   f"TARGET = {target!r}\n")
    (src / "prep.py").write_text(
        "from pathlib import Path\n\nimport pandas as pd\n\n\n"
        "def prepare(raw):\n"
        "    frame = pd.concat(pd.read_csv(p) for p in sorted(Path(raw).glob('*.csv')))\n"
        "    return frame.reset_index(drop=True), {'rows': len(frame)}\n")
    (src / "features.py").write_text(
        "from schema import FEATURES, TARGET\n\n\n"
        "def build_features(clean):\n"
        "    return clean[[*FEATURES, *([TARGET] if TARGET in clean else [])]]\n")
    (src / "generate_data.py").write_text(
        "def generate(folder, rows, seed):\n    raise NotImplementedError('tests bring data')\n")
    return folder
