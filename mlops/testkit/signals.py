"""Signals in tests that send Ctrl-C to a child process."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child the test will send SIGINT: the default handler back. A shell
    starts background jobs (`nox -s tests &`) with SIGINT ignored, and children inherit that,
    so Python would never raise KeyboardInterrupt in them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
