"""Terraform's ``-json`` event stream as one readable line per resource event."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

_ING = {"create": "creating", "update": "updating", "delete": "destroying",
        "replace": "replacing", "read": "reading", "noop": "checking"}
_DONE = {"create": "created", "update": "updated", "delete": "destroyed",
         "replace": "replaced", "read": "read", "noop": "unchanged"}


class EventPrinter:
    """Feed it stdout lines of ``terraform plan|apply|destroy -json``; it prints progress."""

    def __init__(self, emit: Callable[[str], None], *, planned: bool = True):
        self.emit = emit
        self.planned = planned  # apply of a saved plan replays the plan's events: skip them
        self.started: dict[str, float] = {}

    def handle(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            if line.strip():
                self._say(line)
            return
        kind = event.get("type")
        hook = event.get("hook") or {}
        addr = (hook.get("resource") or {}).get("addr", "")
        action = hook.get("action", "")
        if kind == "apply_start":
            self.started[addr] = time.monotonic()
            self._say(f"{addr}: {_ING.get(action, action)}...")
        elif kind == "apply_complete":
            self._say(f"{addr}: {_DONE.get(action, action)} ({self._elapsed(addr)})")
        elif kind == "apply_errored":
            self._say(f"{addr}: failed ({self._elapsed(addr)})")
        elif kind == "provision_progress":
            output = hook.get("output", "")
            if output and not output.startswith("Executing: "):
                self._say(f"{addr}:   {output}")
        elif kind == "planned_change" and self.planned:
            change = event.get("change") or {}
            target = (change.get("resource") or {}).get("addr", "")
            self._say(f"{target}: will be {_DONE.get(change.get('action'), change.get('action'))}")
        elif kind == "change_summary":
            self._say(event.get("@message", ""))
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "warning":
            self._say(f"warning: {event['diagnostic'].get('summary', '')}")

    def _elapsed(self, addr: str) -> str:
        started = self.started.pop(addr, None)
        return f"{time.monotonic() - started:.1f}s" if started is not None else "?"

    def _say(self, text: str) -> None:
        self.emit(f"  {text}")
