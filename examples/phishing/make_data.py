"""Write River's bundled Phishing data as a team's own events and delayed labels.

The 1,250 web pages of `river.datasets.Phishing` (shipped inside River, read
offline) become crawl events in this example team's JSON shape, not
driftline's envelope::

    {"page": {"url_id": "p-00001", "host": "host-07", "tld": "xyz"},
     "crawled_at": 1767225600000, "signals": {"https": 0.0, "long_url": 1.0, ...}}

and the verdicts arrive later on their own stream, as user reports do::

    {"url_id": "p-00001", "is_phishing": true, "reported_at": 1767226081000}

Each page is served by one of 40 hosts (the entity the windows follow). Its
top-level domain follows from its own signals (:func:`tld_of`), so the three
TLDs are pages of different kinds, not a random split: what the job's slices and
segments are about. Pages are crawled about every 3 s of event time; a report
comes after an exponential delay of 10 minutes on average, and 5 % of pages are
never reported. Fixed seed: the same files every time.

Usage: python examples/phishing/make_data.py [OUT_DIR]   (default examples/phishing/data)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson
from river import datasets

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOSTS = 40
MEAN_GAP_MS = 3_000
MEAN_REPORT_DELAY_MS = 600_000
NEVER_REPORTED = 0.05


def tld_of(signals: dict[str, float]) -> str:
    """The page's top-level domain, by the domain's age and popularity.

    Young domains are on the cheap new TLDs ("xyz"), old and popular ones on "com",
    old unpopular ones on "net". The Phishing data has no domain names; this rule
    gives the pages a categorical field that splits them by kind, deterministic
    from the row (no randomness, no label).
    """
    if signals["age_of_domain"] == 0:
        return "xyz"
    return "com" if signals["is_popular"] >= 0.5 else "net"


def main(out: Path) -> None:
    rng = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    t = START_MS
    events, labels = [], []
    for i, (x, y) in enumerate(datasets.Phishing()):
        t += int(rng.expovariate(1 / MEAN_GAP_MS)) + 1
        url_id = f"p-{i:05d}"
        signals = {name: float(value) for name, value in x.items()}
        host = f"host-{rng.randrange(HOSTS):02d}"
        events.append(
            {
                "page": {"url_id": url_id, "host": host, "tld": tld_of(signals)},
                "crawled_at": t,
                "signals": signals,
            }
        )
        if rng.random() >= NEVER_REPORTED:
            reported = t + int(rng.expovariate(1 / MEAN_REPORT_DELAY_MS))
            labels.append({"url_id": url_id, "is_phishing": bool(y), "reported_at": reported})
    labels.sort(key=lambda label: label["reported_at"])  # reports arrive in their own order
    for name, rows in (("events.jsonl", events), ("labels.jsonl", labels)):
        (out / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    print(f"{len(events)} events, {len(labels)} labels -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
