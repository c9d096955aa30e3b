"""Producing events to their streams' Kafka topics: the Python API services use, and the intake.

Each event names its stream (`meta.stream`) and schema (`$schema`); it is validated against that
schema, which must be one its stream accepts, gets `meta.id` and `meta.dt` when absent, and is
written with an idempotent producer and acks=all. An invalid event is never dropped silently: it
goes to the error stream as an event of the `error` schema, with the reason and the raw event.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from sdp.events import EventDecoder
from sdp.schemas import SchemaRegistry
from sdp.spec import Stream

ERROR_STREAM = "sdp.error"
ERROR_SCHEMA = "/error/2.1.0"
DEFAULT_MAX_EVENT_BYTES = 1 << 20  # 1 MiB: Kafka's default message size limit
ACK_TIMEOUT_SECONDS = 30.0


@dataclass
class Outcome:
    """What became of one event of a batch: accepted (error None) or why not."""

    index: int
    stream: str | None
    error: str | None = None
    delivered: bool = False


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ensure_topics(kafka_config: Mapping[str, str], streams: Sequence[Stream]) -> None:
    """Create the topics of the streams and of the error stream that do not exist yet."""
    admin = AdminClient(dict(kafka_config))
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = {s.topic_name: s.partitions for s in streams}
    wanted.setdefault(ERROR_STREAM, 1)
    missing = [NewTopic(t, n, 1) for t, n in wanted.items() if t not in existing]
    for future in admin.create_topics(missing).values() if missing else ():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise


class EventProducer:
    """Validates events and writes them to their streams' topics (thread-safe)."""

    def __init__(
        self,
        kafka_config: Mapping[str, str],
        streams: Mapping[str, Stream],
        registry: SchemaRegistry,
        emitter_id: str = "sdp-producer",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ):
        self.streams = dict(streams)
        self.registry = registry
        self.emitter_id = emitter_id
        self.max_event_bytes = max_event_bytes
        self._decoders = {
            name: EventDecoder(registry, "meta.id", stream=stream)
            for name, stream in self.streams.items()
        }
        self._error_validator = registry.validator(ERROR_SCHEMA)
        self._producer = Producer(
            {
                **kafka_config,
                "enable.idempotence": True,  # retries never duplicate or reorder
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.max.bytes": max(max_event_bytes * 2, 1_000_000),
            }
        )
        self._lock = threading.Lock()

    def problem(self, event: Any) -> tuple[str | None, str | None]:
        """(stream name, why the event is refused or None). Fills meta.id and meta.dt first."""
        if not isinstance(event, dict):
            return None, f"malformed event: expected a JSON object, got {type(event).__name__}"
        meta = event.get("meta")
        stream = meta.get("stream") if isinstance(meta, dict) else None
        if not isinstance(stream, str) or not stream:
            return None, "event names no stream in meta.stream"
        decoder = self._decoders.get(stream)
        if decoder is None:
            return stream, f"unknown stream {stream!r}"
        if "id" not in meta:  # computed only when missing: this runs for every event
            meta["id"] = str(uuid.uuid4())
        if "dt" not in meta:
            meta["dt"] = now_iso()
        size = len(orjson.dumps(event))
        if size > self.max_event_bytes:
            return stream, f"event is {size} bytes, over the limit of {self.max_event_bytes}"
        return stream, decoder.check(event)

    def send(self, events: Sequence[Any], wait: bool = True) -> list[Outcome]:
        """Produce a batch. With `wait`, returns once Kafka acknowledged every event (or not)."""
        outcomes = [Outcome(i, None) for i in range(len(events))]
        for outcome, event in zip(outcomes, events, strict=True):
            outcome.stream, outcome.error = self.problem(event)
            if outcome.error is None:
                topic = self.streams[outcome.stream].topic_name
                self._produce(topic, orjson.dumps(event), outcome)
            else:
                self._produce(ERROR_STREAM, self._error_event(event, outcome), None)
        if wait:
            remaining = self._producer.flush(ACK_TIMEOUT_SECONDS)
            for outcome in outcomes:
                if outcome.error is None and not outcome.delivered:
                    outcome.error = (
                        f"not acknowledged by Kafka within {ACK_TIMEOUT_SECONDS:.0f}s"
                        if remaining
                        else "not acknowledged by Kafka"
                    )
        else:
            self._producer.poll(0)
        return outcomes

    def flush(self, timeout: float = ACK_TIMEOUT_SECONDS) -> int:
        return self._producer.flush(timeout)

    def _produce(self, topic: str, value: bytes, outcome: Outcome | None) -> None:
        def delivered(error, _message) -> None:
            if outcome is not None:
                if error is None:
                    outcome.delivered = True
                else:
                    outcome.error = f"Kafka refused the event: {error.str()}"

        with self._lock:
            while True:
                try:
                    self._producer.produce(topic, value, on_delivery=delivered)
                    return
                except BufferError:  # local queue full: let deliveries drain, then retry
                    self._producer.poll(0.1)

    def _error_event(self, event: Any, outcome: Outcome) -> bytes:
        now = now_iso()
        schema = event.get("$schema") if isinstance(event, dict) else None
        raw = orjson.dumps(event).decode("utf-8", "replace")
        error = {
            "$schema": ERROR_SCHEMA,
            "meta": {"stream": ERROR_STREAM, "id": str(uuid.uuid4()), "dt": now},
            "dt": now,
            "emitter_id": self.emitter_id,
            "error_type": "validation",
            "errored_schema_uri": schema if isinstance(schema, str) else "",
            "errored_stream_name": outcome.stream or "",
            "message": outcome.error,
            "raw_event": raw[: self.max_event_bytes],
        }
        self._error_validator(error)  # the error stream's own contract
        return orjson.dumps(error)
