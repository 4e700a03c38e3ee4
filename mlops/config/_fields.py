"""Reads one JSON object's keys into typed values, collecting every problem instead of stopping."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, precise enough to fix without reading code."""

    file: str
    entry: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.entry:
            where += f": {self.entry}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class ConfigError(FactoryError):
    """All problems found in the configuration, reported at once."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s):\n{lines}")


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def read_json(path: Path, shown_as: str, problems: list[Problem]) -> Any:
    """Parse a JSON file; on failure record a problem and return the missing marker (None)."""
    if not path.is_file():
        problems.append(Problem(shown_as, None, None, f"file not found (looked at {path})"))
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(Problem(shown_as, None, None,
                                f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown_as, None, None, f"not UTF-8 text: {exc.reason}"))
    return None


class Fields:
    """Typed access to one entry's keys; each failed read becomes a Problem and returns None."""

    def __init__(self, problems: list[Problem], file: str, entry: str | None,
                 data: dict[str, Any], known: Iterable[str] | None = None):
        self.problems, self.file, self.entry, self.data = problems, file, entry, data
        self._read: set[str] = set()
        self._known = set(known or ())

    def problem(self, key: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, self.entry, key, message))

    def _get(self, key: str, expected: str, default: Any) -> Any:
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is not _MISSING:
            return default
        self.problem(key, f"missing (expected {expected})")
        return _MISSING

    def string(self, key: str, *, pattern: str | None = None, expected: str = "a non-empty string",
               choices: Iterable[str] | None = None, default: Any = _MISSING) -> str | None:
        value = self._get(key, expected, default)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"expected {expected}, found {_shown(value)}")
            return None
        if choices is not None and value not in set(choices):
            self.problem(key, f"expected one of {', '.join(sorted(choices))}, found {_shown(value)}")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.problem(key, f"expected {expected}, found {_shown(value)}")
            return None
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None,
                default: Any = _MISSING) -> int | None:
        bounds = _bounds(minimum, maximum)
        value = self._get(key, f"an integer{bounds}", default)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"expected an integer{bounds}, found {_type_name(value)} {_shown(value)}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(key, f"expected an integer{bounds}, found {value}")
            return None
        return value

    def number(self, key: str, *, minimum: float | None = None, maximum: float | None = None,
               default: Any = _MISSING) -> float | None:
        bounds = _bounds(minimum, maximum)
        value = self._get(key, f"a number{bounds}", default)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"expected a number{bounds}, found {_type_name(value)} {_shown(value)}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(key, f"expected a number{bounds}, found {value}")
            return None
        return float(value)

    def boolean(self, key: str, *, default: Any = _MISSING) -> bool | None:
        value = self._get(key, "true or false", default)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):  # "yes", 1 and null are not JSON booleans
            found = "null" if value is None else f"{_type_name(value)} {_shown(value)}"
            self.problem(key, f"expected true or false, found {found}")
            return None
        return value

    def string_map(self, key: str, *, default: Any = _MISSING) -> dict[str, str] | None:
        value = self._get(key, "an object of string values", default)
        if value is _MISSING:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.problem(key, f"expected an object of string values, found {_shown(value)}")
            return None
        return dict(value)

    def typed_map(self, key: str, types: dict[str, Any], *, default: Any = _MISSING
                  ) -> dict[str, Any] | None:
        """An object whose keys are among ``types`` (name -> an example value of the wanted
        type); every unknown key and every value of the wrong type is a problem."""
        value = self._get(key, "an object", default)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.problem(key, f"expected an object, found {_shown(value)}")
            return None
        good = {}
        for name, item in value.items():
            if name not in types:
                self.problem(f"{key}.{name}", f"unknown; expected one of "
                                              f"{', '.join(sorted(types)) or 'none'}")
                continue
            example = types[name]
            wanted = (bool if isinstance(example, bool) else int if isinstance(example, int)
                      else (int, float) if isinstance(example, float) else str)
            if isinstance(item, bool) != isinstance(example, bool) or not isinstance(item, wanted):
                self.problem(f"{key}.{name}", f"expected {_type_name(example)} like "
                                              f"{_shown(example)}, found {_shown(item)}")
                continue
            good[name] = float(item) if isinstance(example, float) else item
        return good

    def string_list(self, key: str, *, default: Any = _MISSING) -> list[str] | None:
        value = self._get(key, "a non-empty list of strings", default)
        if value is _MISSING:
            return None
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v.strip() for v in value)):
            self.problem(key, f"expected a non-empty list of strings, found {_shown(value)}")
            return None
        return list(value)

    def path(self, key: str, root: Path, *, must_exist: bool = True,
             default: Any = _MISSING) -> Path | None:
        from mlops.paths import resolve

        text = self.string(key, expected="a path relative to the repo root or absolute",
                           default=default)
        if text is None:
            return None
        resolved = resolve(text, root)
        if must_exist and not resolved.exists():
            self.problem(key, f"expected an existing path, found {text!r} (no such file: {resolved})")
            return None
        return resolved

    def check_unknown(self) -> None:
        """Unknown keys are usually typos of known ones: name them with the keys we know."""
        known = self._known | self._read
        for key in self.data:
            if key not in known:
                self.problem(key, f"unknown key (known keys: {', '.join(sorted(known))})")


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def each_entry(problems: list[Problem], file: str, data: Any, list_key: str,
               label: Callable[[int, dict[str, Any]], str]) -> Iterable[tuple[str, dict[str, Any]]]:
    """The objects of ``data[list_key]``, each with a human label; shape errors become problems."""
    if not isinstance(data, dict) or not isinstance(data.get(list_key), list):
        problems.append(Problem(file, None, list_key,
                                f"expected a top-level object with a list under {list_key!r}, "
                                f"found {_type_name(data)}"))
        return
    for index, item in enumerate(data[list_key]):
        if not isinstance(item, dict):
            problems.append(Problem(file, f"{list_key}[{index}]", None,
                                    f"expected an object, found {_type_name(item)}"))
            continue
        yield label(index, item), item
