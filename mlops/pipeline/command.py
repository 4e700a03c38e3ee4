"""Render a component command: ${{inputs.x}} / ${{outputs.y}} become values and paths, and an
optional block $[[ ... ]] is kept only when every input it mentions has a value (Azure ML rules)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from mlops.errors import FactoryError

_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_]\w*)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.S)


class CommandError(FactoryError):
    """A component command refers to something the job does not provide."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def render(command: str, inputs: dict[str, Any], outputs: dict[str, str], where: str = "") -> str:
    """The shell command with every placeholder substituted (values shell-quoted)."""

    def substitute(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            kind, name = m.groups()
            source = inputs if kind == "inputs" else outputs
            if name not in source or source[name] is None:
                raise CommandError(f"{where}command: ${{{{{kind}.{name}}}}} has no value "
                                   f"(declare it in the component's {kind} or bind it in the job)")
            return shlex.quote(_text(source[name]))

        return _PLACEHOLDER.sub(one, text)

    def optional(m: re.Match[str]) -> str:
        block = m.group(1)
        names = [n for kind, n in _PLACEHOLDER.findall(block) if kind == "inputs"]
        if all(inputs.get(n) is not None for n in names):
            return substitute(block)
        return ""

    return " ".join(substitute(_OPTIONAL.sub(optional, command)).split())


_WORD = re.compile(r"[\w@%+=:,./-]+")
PYTHONS = ("python", "python3")


def python_argv(command: str, rendered: str) -> list[str] | None:
    """``[script.py, arg, ...]`` when ``command`` is the simple form ``python <script>.py ...``
    whose only shell syntax is plain words (rendered values are shell-quoted, so they split
    back exactly); None for anything a shell must interpret (pipes, variables, globs, ...)."""
    shape = _PLACEHOLDER.sub("x", command.replace("$[[", " ").replace("]]", " "))
    if not all(_WORD.fullmatch(word) for word in shape.split()):
        return None
    argv = shlex.split(rendered)
    if len(argv) < 2 or argv[0] not in PYTHONS or not argv[1].endswith(".py"):
        return None
    return argv[1:]
