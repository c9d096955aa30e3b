"""Where landed events come from: a Kafka topic's offset range, or staged files.

Both feed a Lander batch by batch; each batch is one Iceberg commit that also records how far
the input has been landed, so a run can stop anywhere and the next one resumes from there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from confluent_kafka import Consumer, KafkaError, TopicPartition

from sdp.events import split_lines
from sdp.lander import Lander, LandResult
from sdp.staging import Staging

DEFAULT_BATCH = 50_000
STALL_SECONDS = 60  # no progress for this long towards offsets that exist means a broken broker


class LandingError(RuntimeError):
    """The landing could not reach the requested offsets; what was committed stays committed."""


def land_files(lander: Lander, staging: Staging) -> LandResult:
    """Land every staged file of the dataset that has not been landed yet, one commit each."""
    result = LandResult()
    state = lander.state()
    for path in staging.files(lander.domain, lander.dataset.name):
        if path.name in state.files:
            continue
        new = replace(state, files=state.files | {path.name})
        result.add(lander.land(split_lines(path.name, path.read_bytes()), state, new))
        state = new
    return result


def topic_end_offsets(consumer_config: Mapping[str, str], topic: str) -> dict[int, int]:
    """The high watermark of every partition of a topic (the offset the next event will get)."""
    consumer = Consumer({**consumer_config, "group.id": "sdp-watermarks"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            raise LandingError(f"topic {topic!r} is not available: {described and described.error}")
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in described.partitions
        }
    finally:
        consumer.close()


def land_topic(
    lander: Lander,
    consumer_config: Mapping[str, str],
    topic: str,
    end_offsets: Mapping[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> LandResult:
    """Land the topic from the offsets committed in the table up to `end_offsets` (default: the
    high watermarks now), `batch_size` events per commit."""
    end = (
        dict(end_offsets) if end_offsets is not None else topic_end_offsets(consumer_config, topic)
    )
    state = lander.state()
    committed = state.topic_offsets(topic)
    consumer = Consumer(
        {
            **consumer_config,
            "group.id": f"sdp-landing-{lander.name}",  # offsets live in the table, not here
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        }
    )
    result = LandResult()
    try:
        positions = {}
        for partition in end:
            low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            positions[partition] = max(committed.get(partition, low), low)
        pending = [p for p in end if positions[p] < end[p]]
        if not pending:
            return result
        consumer.assign([TopicPartition(topic, p, positions[p]) for p in pending])
        last_progress = time.monotonic()
        while any(positions[p] < end[p] for p in end):
            messages = consumer.consume(num_messages=batch_size, timeout=1.0)
            lines = []
            moved = dict(positions)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise LandingError(f"{topic}: {error}")
                partition, offset = message.partition(), message.offset()
                if offset < moved[partition] or offset >= end[partition]:
                    continue
                lines.append((f"{topic}:{partition}:{offset}", message.value() or b""))
                moved[partition] = offset + 1
            for partition in end:
                # Offsets can skip (transaction markers): the position is authoritative.
                if moved[partition] < end[partition] and not messages:
                    (position,) = consumer.position([TopicPartition(topic, partition)])
                    if position.offset >= 0:
                        moved[partition] = min(
                            max(moved[partition], position.offset), end[partition]
                        )
            reached = [TopicPartition(topic, p) for p in end if moved[p] >= end[p] > positions[p]]
            if reached:
                consumer.pause(reached)
            if moved != positions:
                new = state.with_offsets(topic, moved)
                result.add(lander.land(lines, state, new))
                state, positions = new, moved
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_SECONDS:
                raise LandingError(
                    f"{topic}: no progress for {STALL_SECONDS}s at offsets {positions}, "
                    f"short of {end}; landed up to there"
                )
        return result
    finally:
        consumer.close()
