"""Terraform failures as factory errors: the command line plus Terraform's own diagnostics."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from mlops.errors import FactoryError


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.summary}: {self.detail}" if self.detail else self.summary


class TerraformError(FactoryError):
    """A Terraform command failed; carries the command and the diagnostics it printed."""

    def __init__(self, command: Sequence[str], returncode: int,
                 diagnostics: Sequence[Diagnostic] = (), output: str = "", hint: str = ""):
        self.command = list(command)
        self.returncode = returncode
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"] or self.diagnostics
        if errors:
            reason = "\n  ".join(str(d) for d in errors)
        else:  # no parsable diagnostic: show the tail of what Terraform printed
            reason = "\n  ".join(output.strip().splitlines()[-8:]) or "no output"
        message = (f"terraform {self._subcommand()} failed (exit {returncode}):\n  {reason}\n"
                   f"  command: {shlex.join(self.command)}")
        super().__init__(message + (f"\n  {hint}" if hint else ""))

    def _subcommand(self) -> str:
        return next((a for a in self.command[1:] if not a.startswith("-")), "?")


class TerraformLockError(TerraformError):
    """The state is locked by another Terraform run (or our own provision lock)."""


class TerraformStateError(TerraformError):
    """The state file cannot be read (corrupt or truncated): not a lock, whatever Terraform's
    summary says ("Error acquiring the state lock" wraps the parse error)."""


class TerraformTimeout(TerraformError):
    """The command did not finish within its timeout and was stopped."""


_BOX = re.compile(r"^[│╷╵]\s?", re.M)


def parse_text_diagnostics(text: str) -> list[Diagnostic]:
    """Diagnostics from Terraform's human output (-no-color), for commands without -json:
    blocks starting 'Error: <summary>' or 'Warning: <summary>', then the detail paragraph(s)."""
    text = _BOX.sub("", text)
    found: list[Diagnostic] = []
    blocks = re.split(r"^(Error|Warning): ", text, flags=re.M)
    for kind, body in zip(blocks[1::2], blocks[2::2], strict=False):
        summary, _, rest = body.partition("\n")
        detail = " ".join(line.strip() for line in rest.strip().splitlines() if line.strip())
        found.append(Diagnostic(kind.lower(), summary.strip(), detail))
    return found


_UNREADABLE_STATE = ("unsupported state file format", "state file could not be parsed",
                     "failed to load state", "error reading state")


def is_state_error(diagnostics: Sequence[Diagnostic]) -> bool:
    """Terraform could not read the state file itself (reported under the lock summary)."""
    return any(marker in f"{d.summary} {d.detail}".lower() for d in diagnostics
               for marker in _UNREADABLE_STATE)


def is_lock_error(diagnostics: Sequence[Diagnostic]) -> bool:
    return (any("state lock" in d.summary.lower() for d in diagnostics)
            and not is_state_error(diagnostics))
