"""One API to read any dataset: history from the lake, and live from the stream's topic.

    history = sdp.source("mediawiki.recentchange", start=..., end=...)       # Arrow table
    for batch in sdp.source("mediawiki.recentchange", live=True, idle_timeout=5):
        ...                                                                 # Arrow tables

Both have the dataset's columns. The live tail starts, by default, at the offsets committed in
the table with the data, and decodes exactly as the landing does (validation, canaries dropped,
ids already landed skipped), so history followed by the tail is gap-free and duplicate-free.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition

from sdp.catalog import DatasetIndex, Entry
from sdp.events import EventDecoder
from sdp.lander import Lander
from sdp.location import DEFAULT_WORKSPACE, load_location

FORMATS = ("arrow", "pandas", "duckdb")


class SourceError(ValueError):
    """The dataset cannot be read as asked; the message names the dataset and why."""


def source(
    dataset: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    live: bool = False,
    from_offsets: Mapping[int, int] | None = None,
    output: str = "arrow",
    idle_timeout: float | None = None,
    batch_size: int = 10_000,
    workspace: Path | str = DEFAULT_WORKSPACE,
) -> Any:
    """Read `dataset` ("domain.name"): its history in [start, end) (all of it without bounds), or
    with `live=True` an iterator of batches tailing its topic from `from_offsets` (default: the
    offsets committed with the lake's data) until `idle_timeout` seconds pass without events."""
    if output not in FORMATS:
        raise SourceError(f"{dataset}: output must be one of {FORMATS}, not {output!r}")
    if (start is None) != (end is None):
        raise SourceError(f"{dataset}: give both start and end, or neither")
    location = load_location(workspace)
    index = DatasetIndex(location.domains())
    entry = index.get(dataset)
    resources = location.defs().resources
    lakehouse = resources["lakehouse"]
    if not live:
        table = lakehouse.lake().read(entry.domain.name, entry.dataset, start, end)
        return convert(table, output)
    if index.stream_of(entry) is None:
        raise SourceError(f"{dataset}: only stream-fed datasets have a live tail")
    lander = Lander(
        lakehouse.lake(),
        entry.domain.name,
        entry.dataset,
        EventDecoder.for_source(entry.dataset.source, lakehouse.schemas(), index.streams),
    )
    return (
        convert(batch, output)
        for batch in tail(
            lander,
            index,
            entry,
            resources["kafka"].client_config(),
            from_offsets,
            idle_timeout,
            batch_size,
        )
    )


def convert(table: pa.Table, output: str) -> Any:
    if output == "pandas":
        return table.to_pandas()
    if output == "duckdb":
        return duckdb.from_arrow(table)
    return table


def tail(
    lander: Lander,
    index: DatasetIndex,
    entry: Entry,
    kafka_config: Mapping[str, str],
    from_offsets: Mapping[int, int] | None,
    idle_timeout: float | None,
    batch_size: int,
) -> Iterator[pa.Table]:
    stream = index.stream_of(entry)
    topic = stream.topic_name
    offsets = dict(from_offsets or lander.state().topic_offsets(topic))
    consumer = Consumer(
        {
            **kafka_config,
            "group.id": f"sdp-source-{entry.qualified_name}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, offsets.get(p, 0)) for p in sorted(partitions)])
        last_event = time.monotonic()
        while idle_timeout is None or time.monotonic() - last_event < idle_timeout:
            messages = consumer.consume(num_messages=batch_size, timeout=0.5)
            lines = []
            for message in messages:
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise SourceError(f"{entry.qualified_name}: {error}")
                if error is None:
                    origin = f"{topic}:{message.partition()}:{message.offset()}"
                    lines.append((origin, message.value() or b""))
            if not lines:
                continue
            last_event = time.monotonic()
            rows, _ = lander.prepare(lines)
            lander.remember(rows)
            if rows.num_rows:
                yield rows
    finally:
        consumer.close()
