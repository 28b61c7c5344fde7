"""Stopping the job: a process-wide stop request, and the signals that make it.

SIGTERM/SIGINT ask every source to finish after its current batch
(:func:`request_stop`); the dataflow drains, sinks flush and close, and the run
returns. That drain must end in bounded time whatever the job is doing, so the
signals are not left to Python's handlers: a Python handler only runs when the
main thread next executes Python bytecode, and the main thread spends the run
inside bytewax's Rust loop or a blocking librdkafka call (a broker that cannot
be reached kept a job deaf to SIGTERM for good). :class:`SignalWatcher` blocks
the two signals in every thread instead and takes them in a thread of its own
with ``sigtimedwait``: the first starts the drain and a deadline, a second
signal or the deadline ends the process at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from types import TracebackType
from typing import Self

log = logging.getLogger("driftline")

_STOP = threading.Event()
_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def request_stop() -> None:
    """Ask every source to finish after its current batch."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear_stop() -> None:
    """Forget an earlier stop request (a new run in the same process)."""
    _STOP.clear()


def block_stop_signals() -> None:
    """Block SIGTERM/SIGINT in this thread and every thread started after it.

    Call first thing in a process that will run a flow: libraries start
    threads at import (numpy's BLAS pool, for one), and a signal the kernel
    hands to such a thread takes its default action (SIGTERM kills at once, no
    drain) or waits for a Python handler the busy main thread never runs.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def unblock_stop_signals() -> None:
    """Let this thread take SIGTERM/SIGINT again (a command that runs no flow)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


class SignalWatcher:
    """Turns SIGTERM/SIGINT into a stop request with a hard deadline.

    Use as a context manager around the run, in the main thread, in a process
    that called :func:`block_stop_signals` before any other thread started
    (threads inherit the blocked mask; entering blocks the signals too, for
    threads started from then on). After the
    first signal the job has `timeout` seconds to drain; then, or on a second
    signal, the process exits with 128 + the signal number, as a shell reports
    a process ended by that signal.
    """

    def __init__(self, timeout: float, poll: float = 0.2) -> None:
        self.timeout = timeout
        self.poll = poll
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_mask: set[int | signal.Signals] | None = None

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():
            return self  # embedded in another program's thread: its signals are its own
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        self._thread = threading.Thread(target=self._watch, name="driftline-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        self._done.set()
        self._thread.join()
        assert self._old_mask is not None
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)

    def _watch(self) -> None:
        deadline: float | None = None
        first: int | None = None
        while not self._done.is_set():
            info = signal.sigtimedwait(_SIGNALS, self.poll)
            if info is not None:
                name = signal.Signals(info.si_signo).name
                if first is not None:
                    self._exit(info.si_signo, f"second {name}: exiting without draining")
                first = info.si_signo
                deadline = time.monotonic() + self.timeout
                log.warning(
                    "stop requested, draining",
                    extra={"signal": name, "timeout_s": self.timeout},
                )
                request_stop()
            elif deadline is not None and first is not None and time.monotonic() > deadline:
                self._exit(
                    first,
                    f"did not drain within {self.timeout:g} s (run.shutdown_timeout): exiting",
                )

    def _exit(self, signo: int, why: str) -> None:
        log.error(why, extra={"signal": signal.Signals(signo).name})
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(128 + signo)
