"""`driftline alerts`: follow the job's alerts in a terminal, from its file or its topic.

Reads the alerts output where the job writes it (``alerts.jsonl`` in
`sinks.directory`, or `kafka.alerts_topic`), prints one readable line per alert
(:meth:`Alert.describe`, led by its severity, coloured only on a terminal),
filtered by kind, minimum severity, model, segment and slice, or the raw JSON
lines with ``--json``. ``--follow`` keeps reading as ``tail -F`` does: a file
that does not exist yet is waited for, and one truncated (a new run in the same
directory) or replaced is read again from its start. A line that is not an
alert is reported on stderr once and skipped. Ctrl-C or SIGTERM end it with
exit 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, get_args

import orjson

from driftline.flows.records import Alert, AlertKind, Output, Severity

if TYPE_CHECKING:
    from driftline.flows.config import Settings

PROG = "driftline alerts"
SEVERITIES: tuple[str, ...] = get_args(Severity)  # ("info", "warning", "critical"): rising
KINDS: tuple[str, ...] = get_args(AlertKind)
POLL = 0.2  # seconds between looks at a followed file (an appended alert shows within this)
TOPIC_POLL = 1.0  # seconds between looks for a topic that does not exist yet
MAX_REPORTS = 5  # lines that are not alerts reported one by one; the rest are counted
_COLOURS = {"critical": "\x1b[1;31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_RESET = "\x1b[0m"
# control characters (C0, DEL, C1) written as escapes: text from events never drives the terminal
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), *range(0x7F, 0xA0))}
_FIELDS = {f.name for f in dataclasses.fields(Alert)}
_TEXT = ("kind", "detector", "model", "event_id", "event_ts", "shard")
_OPTIONAL_TEXT = ("feature", "segment", "slice")

EPILOG = """\
examples:
  driftline alerts                         every alert in out/alerts.jsonl
  driftline alerts -f -n 5                 the last 5, then new ones as they come (Ctrl-C ends)
  driftline alerts --severity warning --kind concept_drift --model logreg
  driftline alerts --source kafka -f       the alerts topic (kafka.alerts_topic)
  driftline alerts --json | jq .statistic  the raw JSON lines

Where: --source file reads alerts.jsonl in --out (sinks.directory), or --file; --source
kafka reads kafka.alerts_topic from kafka.bootstrap_servers. Without --source it reads
where the config's run.sink writes (the file unless that is kafka). Severity, lowest
first: info < warning < critical; --severity keeps that one and the ones above it.
"""


class NotAnAlert(ValueError):
    """A line of the alerts output that is not an alert; the message says why."""


def parse_alert(raw: bytes) -> Alert:
    """The alert in one JSON line, as the job wrote it (keys it does not know are ignored).

    Raises :class:`NotAnAlert` saying what is wrong: not JSON, not an object, a
    field missing or of the wrong type, a severity that is not one of
    :data:`SEVERITIES`.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotAnAlert(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotAnAlert(f"a JSON {type(data).__name__}, not an object")
    for name in _TEXT:
        if not isinstance(data.get(name), str):
            raise NotAnAlert(f"{name!r} missing or not a string")
    version = data.get("model_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotAnAlert("'model_version' missing or not an integer")
    severity = data.get("severity", "warning")
    if severity not in SEVERITIES:
        raise NotAnAlert(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if not isinstance(data.get("statistic", {}), dict):
        raise NotAnAlert("'statistic' is not an object")
    for name in _OPTIONAL_TEXT:
        if not isinstance(data.get(name), str | None):
            raise NotAnAlert(f"{name!r} is not a string")
    seen = data.get("events_seen", 0)
    if not isinstance(seen, int) or isinstance(seen, bool):
        raise NotAnAlert("'events_seen' is not an integer")
    return Alert(**{k: v for k, v in data.items() if k in _FIELDS})


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to show: any of `kinds`, at least `severity`, any of `models`..."""

    kinds: frozenset[str] = frozenset()  # empty: every kind
    severity: str = "info"
    models: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    slices: frozenset[str] = frozenset()

    def __call__(self, alert: Alert) -> bool:
        return (
            (not self.kinds or alert.kind in self.kinds)
            and SEVERITIES.index(alert.severity) >= SEVERITIES.index(self.severity)
            and (not self.models or alert.model in self.models)
            and (not self.segments or alert.segment in self.segments)
            and (not self.slices or alert.slice in self.slices)
        )


def describe(alert: Alert) -> str:
    """:meth:`Alert.describe`, or a plain line for a kind it does not know or odd statistics
    (an alert written by a newer job), with control characters escaped."""
    if alert.kind in KINDS:
        try:
            return alert.describe().translate(_ESCAPES)
        except (TypeError, ValueError, KeyError):  # statistics of another shape
            pass
    who = f"{alert.model}" + (f"[{alert.segment}]" if alert.segment is not None else "")
    who += f" v{alert.model_version}" + (f" for {alert.slice}" if alert.slice is not None else "")
    feature = f" feature {alert.feature!r}" if alert.feature is not None else ""
    stats = orjson.dumps(alert.statistic, default=str).decode()
    stats = stats if len(stats) <= 200 else stats[:199] + "…"
    text = (
        f"{alert.kind.upper().replace('_', ' ')} [{alert.detector}] {who}{feature}: {stats} "
        f"at event {alert.event_id} ({alert.event_ts}), shard {alert.shard}"
    )
    return text.translate(_ESCAPES)


def format_alert(alert: Alert, colour: bool) -> str:
    """One line for the terminal: the severity (coloured when `colour`), then the alert."""
    label = f"{alert.severity:<8}"
    if colour:
        label = f"{_COLOURS[alert.severity]}{label}{_RESET}"
    return f"{label} {describe(alert)}"


def use_colour(stream: Any) -> bool:
    """Colours only on a terminal, and not when NO_COLOR is set or TERM is dumb."""
    isatty = getattr(stream, "isatty", None)
    return (
        bool(isatty and isatty())
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


class Printer:
    """Turns raw lines into output: alerts that pass the filter to stdout, one line each
    (or the raw line with `as_json`); a line that is not an alert reported on stderr once."""

    def __init__(
        self, keep: AlertFilter, as_json: bool, colour: bool, out: BinaryIO, err: Any
    ) -> None:
        self.keep = keep
        self.as_json = as_json
        self.colour = colour
        self.out = out
        self.err = err
        self.shown = 0
        self.bad = 0

    def select(self, raw: bytes, where: str) -> bytes | None:
        """The output line for `raw`, or None when it is filtered out or not an alert."""
        if not raw.strip():
            return None
        try:
            alert = parse_alert(raw)
        except NotAnAlert as exc:
            self.not_an_alert(raw, where, str(exc))
            return None
        if not self.keep(alert):
            return None
        if self.as_json:
            return raw.strip() + b"\n"
        return (format_alert(alert, self.colour) + "\n").encode("utf-8", "backslashreplace")

    def not_an_alert(self, raw: bytes, where: str, why: str) -> None:
        self.bad += 1
        if self.bad <= MAX_REPORTS:
            shown = raw[:80].decode("utf-8", "backslashreplace")
            more = "…" if len(raw) > 80 else ""
            self.note(f"{where} is not an alert ({why}), skipped: {shown!r}{more}")
            if self.bad == MAX_REPORTS:
                self.note("further lines that are not alerts are skipped and counted")

    def write(self, lines: Iterable[bytes]) -> None:
        """Write output lines and flush (a pipe sees each batch at once)."""
        written = False
        for line in lines:
            self.out.write(line)
            self.shown += 1
            written = True
        if written:
            self.out.flush()

    def note(self, text: str) -> None:
        print(f"{PROG}: {text}", file=self.err, flush=True)

    def finish(self) -> None:
        if self.bad > MAX_REPORTS:
            self.note(f"{self.bad} lines were not alerts")


class Stopped(Exception):
    """SIGTERM arrived: end as Ctrl-C does."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped


# --------------------------------------------------------------------------- file


class FileTail:
    """Complete lines of a file as it grows, across truncation and replacement (``tail -F``).

    :meth:`poll` says what happened to the file since the last look; :meth:`lines`
    reads the complete lines written since (a line still being written waits for
    its newline). A file is rewritten when it got shorter than what was read, or
    its first bytes changed (a new run truncated and refilled it between looks).
    """

    HEAD = 512  # first bytes kept to notice a rewrite

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: BinaryIO | None = None
        self._ino: tuple[int, int] | None = None
        self._head = b""
        self._partial = b""
        self.line_no = 0  # lines read from the current file

    @property
    def is_open(self) -> bool:
        return self._f is not None

    def open(self) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open while followed
        except (FileNotFoundError, NotADirectoryError):
            return False
        st = os.fstat(f.fileno())
        self.close()
        self._f, self._ino = f, (st.st_dev, st.st_ino)
        self._head, self._partial, self.line_no = b"", b"", 0
        return True

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
        self._f = None

    def poll(self) -> str | None:
        """What happened since the last look: "truncated" or "replaced" (read again from the
        start), "removed" (the caller closes and waits), or None."""
        assert self._f is not None
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return "removed" if not self._unread() else None
        if (st.st_dev, st.st_ino) != self._ino:
            if self._unread():  # the old file's last lines first
                return None
            return "replaced" if self.open() else "removed"
        pos = self._f.tell()
        if st.st_size < pos or (
            self._head and os.pread(self._f.fileno(), len(self._head), 0) != self._head
        ):
            self._f.seek(0)
            self._head, self._partial, self.line_no = b"", b"", 0
            return "truncated"
        return None

    def _unread(self) -> bool:
        assert self._f is not None
        return os.fstat(self._f.fileno()).st_size > self._f.tell()

    def lines(self, chunk: int = 1 << 20) -> list[bytes]:
        """Complete lines written since the last call (up to about `chunk` bytes of them)."""
        assert self._f is not None
        data = self._f.read(chunk)
        if not data:
            return []
        if len(self._head) < self.HEAD:
            self._head += data[: self.HEAD - len(self._head)]
        *complete, self._partial = (self._partial + data).split(b"\n")
        self.line_no += len(complete)
        return complete

    def rest(self) -> bytes:
        """The last line when it has no newline yet (read once, at the end of a listing)."""
        rest, self._partial = self._partial, b""
        return rest


def _last(lines: Iterable[bytes | None], n: int | None) -> list[bytes]:
    kept = [line for line in lines if line is not None]
    return kept if n is None else kept[len(kept) - n :] if n else []


def show_file(path: Path, printer: Printer, last: int | None, follow: bool) -> int:
    """List (and with `follow`, keep following) the alerts in `path`."""
    tail = FileTail(path)
    if not tail.open():
        if not follow:
            printer.note(
                f"no alerts file {path} (the job creates it at start-up in --out, "
                "sinks.directory; --follow waits for it)"
            )
            return 1
        printer.note(f"waiting for {path} to appear")
    else:  # what is already there: the last `last` alerts that pass the filter
        backlog: deque[bytes] = deque(maxlen=last)
        while batch := tail.lines():
            first = tail.line_no - len(batch) + 1
            for i, raw in enumerate(batch):
                line = printer.select(raw, f"{path} line {first + i}")
                if line is not None:
                    backlog.append(line)
        if not follow:
            rest = tail.rest()
            if rest.strip():
                try:  # a last line without its newline: shown when whole, else still being written
                    parse_alert(rest)
                    end = printer.select(rest, f"{path} line {tail.line_no + 1}")
                    if end is not None:
                        backlog.append(end)
                except NotAnAlert:
                    pass
        printer.write(_last(backlog, last))
        if not follow:
            tail.close()
            return 0
        printer.note(f"following {path} (Ctrl-C to stop)")
    while True:
        if not tail.is_open:
            if tail.open():
                printer.note(f"{path} appeared: following it")
            else:
                time.sleep(POLL)
                continue
        event = tail.poll()
        if event == "removed":
            tail.close()
            printer.note(f"{path} was removed: waiting for it to come back")
            continue
        if event is not None:
            printer.note(f"{path} was {event}: reading it from the start")
        batch = tail.lines()
        if not batch:
            time.sleep(POLL)
            continue
        first = tail.line_no - len(batch) + 1
        printer.write(
            _last(
                (printer.select(raw, f"{path} line {first + i}") for i, raw in enumerate(batch)),
                None,
            )
        )


# --------------------------------------------------------------------------- kafka


class _QuietLog:
    """librdkafka's log lines at DEBUG: an unreachable broker is one error, not a stream."""

    def log(self, level: int, msg: str, *args: object) -> None:
        import logging

        logging.getLogger("driftline.connectors.kafka.librdkafka").debug(msg, *args)


def show_topic(
    settings: Settings, topic: str, printer: Printer, last: int | None, follow: bool
) -> int:
    """List (and with `follow`, keep following) the alerts on `topic`, every partition,
    without joining a consumer group (assigned partitions, nothing committed)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from driftline.connectors.kafka.admin import reach_brokers
    from driftline.connectors.kafka.settings import client_config
    from driftline.flows.config import StartupError

    cfg = settings.kafka
    try:
        reach_brokers(cfg)
    except StartupError as exc:
        printer.note(str(exc))
        return 2
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.bootstrap_servers,
            **client_config(cfg, "consumer"),
            "group.id": f"driftline-alerts-{uuid.uuid4().hex[:8]}",  # never joined nor committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            "logger": _QuietLog(),
        }
    )
    try:
        waited = False
        while True:
            meta = consumer.list_topics(topic, timeout=cfg.connect_timeout)
            tmeta = meta.topics.get(topic)
            if tmeta is not None and tmeta.error is None and tmeta.partitions:
                break
            if not follow:
                printer.note(
                    f"no topic {topic!r} on {cfg.bootstrap_servers} (kafka.alerts_topic; "
                    "`driftline topics create` makes it; --follow waits for it)"
                )
                return 1
            if not waited:
                printer.note(f"waiting for topic {topic!r} on {cfg.bootstrap_servers}")
                waited = True
            time.sleep(TOPIC_POLL)
        parts = sorted(tmeta.partitions)
        # the backlog: every partition up to its end when we start
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=cfg.connect_timeout
            )
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        backlog: list[tuple[int, int, int, bytes]] = []  # (timestamp, partition, offset, line)
        live = False
        while True:
            if not live and not ends:  # backlog read: merged by message time
                backlog.sort()
                printer.write(_last((line for *_, line in backlog), last))
                backlog.clear()
                if not follow:
                    return 0
                printer.note(f"following topic {topic!r} (Ctrl-C to stop)")
                live = True
            fresh: list[bytes | None] = []
            for msg in consumer.consume(500, POLL):
                error = msg.error()
                if error is not None:
                    if error.fatal():
                        printer.note(f"reading {topic!r} failed: {error.str()}")
                        return 1
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.pop(msg.partition() or 0, None)  # at its end: nothing more before
                    else:
                        printer.note(f"reading {topic!r}: {error.str()} (retrying)")
                    continue
                p, offset = msg.partition() or 0, msg.offset() or 0
                line = printer.select(msg.value() or b"", f"{topic}[{p}]@{offset}")
                if live:
                    fresh.append(line)
                    continue
                if line is not None:
                    backlog.append((msg.timestamp()[1], p, offset, line))
                if p in ends and offset + 1 >= ends[p]:
                    del ends[p]
            printer.write(_last(fresh, None))
    finally:
        consumer.close()


# --------------------------------------------------------------------------- command


def _count(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> argparse.ArgumentParser:
    """Register `alerts`; `common` adds the flags every command has (-c, --log-level...)."""
    p = subparsers.add_parser(
        "alerts",
        help="Follow the job's alerts in a terminal (its alerts file or Kafka topic).",
        description="Print the job's alerts one readable line each, severity first, from the\n"
        "alerts.jsonl in its output directory or from its alerts topic; filter them, and with\n"
        "--follow keep printing new ones as `tail -f` does. Lines that are not alerts are\n"
        "reported on stderr and skipped. Ctrl-C or SIGTERM end it (exit 0).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p)
    p.add_argument("--source", choices=["file", "kafka"], help="Where the alerts are.")
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="The job's output directory (sinks.directory)."
    )
    p.add_argument(
        "--file", type=Path, metavar="FILE", help="An alerts JSONL file (implies --source file)."
    )
    p.add_argument("--bootstrap-servers", metavar="HOSTS", help="Kafka brokers (--source kafka).")
    p.add_argument("--topic", help="The alerts topic (--source kafka; kafka.alerts_topic).")
    p.add_argument("-f", "--follow", action="store_true", help="Keep printing new alerts.")
    p.add_argument(
        "-n",
        "--lines",
        type=_count,
        metavar="N",
        help="Start with the last N matching alerts only (default all; -n 0 -f: new ones only).",
    )
    p.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        metavar="KIND",
        help=f"Only this kind (repeatable): {', '.join(KINDS)}.",
    )
    p.add_argument(
        "--severity",
        choices=SEVERITIES,
        default="info",
        help="Minimum severity (info < warning < critical).",
    )
    p.add_argument("--model", action="append", help="Only this model (repeatable).")
    p.add_argument("--segment", action="append", help="Only this segment (repeatable).")
    p.add_argument(
        "--slice", action="append", help="Only this slice, e.g. country=BR (repeatable)."
    )
    p.add_argument("--json", action="store_true", help="Print the raw JSON lines.")
    p.set_defaults(func=cmd_alerts)
    return p


def cmd_alerts(args: argparse.Namespace) -> int:
    """Show the alerts; exit 0 (also on Ctrl-C/SIGTERM), 1 when there is nothing to read,
    2 for a bad flag or unreachable brokers."""
    from driftline.flows.app.loading import load, refuse

    source = args.source
    if args.file is not None:
        if source == "kafka":
            return refuse("--file reads a file: use --source file, not kafka")
        source = "file"
    settings = load(
        args,
        {
            "sinks.directory": args.out,
            "kafka.bootstrap_servers": args.bootstrap_servers,
            "kafka.alerts_topic": args.topic,
            "run.log_level": args.log_level,
            "run.log_format": args.log_format,
        },
    )
    if source is None:
        source = "kafka" if settings.run.sink == "kafka" else "file"
    wrong = ("--out", "--file") if source == "kafka" else ("--bootstrap-servers", "--topic")
    given = [f for f in wrong if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if given:
        return refuse(f"{', '.join(given)} not used with --source {source}")
    keep = AlertFilter(
        kinds=frozenset(args.kind or ()),
        severity=args.severity,
        models=frozenset(args.model or ()),
        segments=frozenset(args.segment or ()),
        slices=frozenset(args.slice or ()),
    )
    printer = Printer(keep, args.json, use_colour(sys.stdout), sys.stdout.buffer, sys.stderr)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        if source == "kafka":
            return show_topic(
                settings, settings.kafka.alerts_topic, printer, args.lines, args.follow
            )
        path = args.file or settings.sinks.directory / Output.ALERTS.file_name
        return show_file(path, printer, args.lines, args.follow)
    except (KeyboardInterrupt, Stopped):
        return 0
    except BrokenPipeError:  # `driftline alerts | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not fail again
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        printer.finish()
