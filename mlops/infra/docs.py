"""Generated documentation: each generated block sits between marker comments in a markdown
file and is rewritten from its single source (the identity tables from mlops.identities, the
README's session table from mlops.sessions)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from mlops import identities, sessions
from mlops.errors import FactoryError

# file (relative to the root) -> block name -> its generator
GENERATED: dict[str, dict[str, Callable[[], str]]] = {
    "docs/azure.md": {"identities": identities.markdown},
    "README.md": {"sessions": sessions.markdown},
}
SOURCES = {"identities": "mlops/identities.py", "sessions": "mlops/sessions.py"}


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- generated:{name} (nox -s docs; edit {SOURCES[name]}) -->",
            f"<!-- end generated:{name} -->")


def render(text: str, blocks: dict[str, Callable[[], str]], where: str) -> str:
    for name, generate in blocks.items():
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise FactoryError(f"{where}: no generated block {name!r} (expected the line "
                               f"{begin!r} and, after it, {end!r})")
        block = f"{begin}\n{generate()}{end}"
        text = pattern.sub(lambda _, block=block: block, text)
    return text


def write_docs(root: Path, *, check: bool = False) -> list[str]:
    """Files whose generated blocks differ from their sources (written unless ``check``)."""
    stale = []
    for relative, blocks in GENERATED.items():
        path = root / relative
        text = path.read_text(encoding="utf-8")
        new = render(text, blocks, relative)
        if new != text:
            stale.append(relative)
            if not check:
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_text(new, encoding="utf-8")
                os.replace(tmp, path)
    return stale
