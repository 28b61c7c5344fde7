"""The live page the job serves: a feed of what the job does, and its HTTP server.

:func:`open_page` starts it for a run (the runner calls it), :func:`close_page`
takes a last sample, lingers (`live.linger`) and stops it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from driftline.flows.live.feed import LiveFeed, Watchers
from driftline.flows.live.server import CSP, LivePage

if TYPE_CHECKING:
    from driftline.flows.config import Settings

__all__ = ["CSP", "LiveFeed", "LivePage", "Watchers", "close_page", "open_page"]

log = logging.getLogger("driftline")


def live_port(settings: Settings) -> int:
    """live.port, plus the process id in a cluster (one page per process); 0 stays 0."""
    port = settings.live.port
    if port and settings.run.process_id:
        port += settings.run.process_id
    return port


def open_page(settings: Settings, config: dict[str, Any], primary: str | None) -> LivePage | None:
    """Start the page (when live.enabled); None when it is off or its port is taken.

    A taken port does not stop the job (the page is for watching it): it is logged
    as a warning naming the setting to change.
    """
    if not settings.live.enabled:
        return None
    feed = LiveFeed(settings.live.history, config, primary)
    page = LivePage(feed, settings.live.host, live_port(settings))
    try:
        url = page.start()
    except OSError as exc:
        log.warning(
            f"live page not served: cannot listen on {settings.live.host}:{page.port} "
            f"({exc.strerror}); set live.port / --live-port (0 = any free port), or --no-live",
            extra={"host": settings.live.host, "port": page.port},
        )
        return None
    log.info("live page", extra={"url": url})
    return page


def close_page(
    page: LivePage | None, linger: float, stopped: Callable[[], bool] = lambda: False
) -> None:
    """The input ended: a last sample (the final figures), `linger` seconds more (cut
    short when `stopped()`: SIGTERM/SIGINT), then stop."""
    if page is None:
        return
    page.feed.sample(final=True)
    if linger > 0:
        log.info(
            f"input ended; live page stays at {page.url} for {linger:g} s (live.linger)",
            extra={"url": page.url, "linger": linger},
        )
        until = time.monotonic() + linger
        while time.monotonic() < until and not stopped():
            time.sleep(min(0.2, max(until - time.monotonic(), 0)))
    page.stop()
