"""The factory's error base: anything raised as FactoryError is shown to the user as one clear
message (no traceback) by the CLI boundary."""


class FactoryError(Exception):
    """A failure the user can act on; its message names what to fix."""

    exit_code = 1


class WorkspaceNotProvisioned(FactoryError):
    """No workspace outputs: provision first (the message says how, for the target)."""
