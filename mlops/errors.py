"""The factory's error base: anything raised as FactoryError is shown to the user as one clear
message (no traceback) by the CLI boundary."""


class FactoryError(Exception):
    """A failure the user can act on; its message names what to fix."""

    exit_code = 1


class WorkspaceNotProvisioned(FactoryError):
    """No workspace outputs: provision first (the message says how, for the target)."""


class PromotionError(FactoryError):
    """A promotion was refused or failed; nothing changed in the target environment."""

    exit_code = 3


class NotApproved(PromotionError):
    """The version to promote carries no production approval; the message names the approve
    command that would give it one."""


class DigestMismatch(PromotionError):
    """A copy's files differ from the digest recorded when the version was registered."""
