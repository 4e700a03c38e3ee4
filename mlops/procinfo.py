"""What /proc says about a process (Linux): read by the runner's leases and the endpoints'
supervision alike, so it lives below both."""

from __future__ import annotations

from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (identifies it across pid reuse);
    None when it is gone (a zombie is gone for our purposes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])
