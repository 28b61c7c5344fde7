"""A process-wide stop request that sources check between batches.

SIGTERM/SIGINT handlers call :func:`request_stop`; sources then end their
partitions, the dataflow drains, sinks flush and close, and the run returns.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


def request_stop() -> None:
    """Ask every source to finish after its current batch."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear_stop() -> None:
    """Forget an earlier stop request (a new run in the same process)."""
    _STOP.clear()
