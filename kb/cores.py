"""How many cores this process may use (builds and the store load spread over them)."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
