"""Landing: appending new events to an ingested dataset's table, exactly once.

What has been landed (Kafka offsets per topic partition, staged file names) is a table property
written in the same Iceberg commit as the rows it accounts for. A restart reads it back and
resumes from there, so a crash before, during or after a commit leaves every event exactly once:
before the commit nothing is visible and the batch is consumed again; after it, the new offsets
are. Events are deduplicated on their id within a batch and against the partitions they touch.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import In

from sdp.events import EventDecoder, Rejected, events_to_arrow
from sdp.lake import Lake, LakeError, conform
from sdp.spec import Dataset

STATE_PROPERTY = "sdp.landing-state"
REJECTED_SUFFIX = "__rejected"  # side table holding the rejected input of an ingested dataset
COMMIT_ATTEMPTS = 5
GRANULARITY_UNITS = {"hourly": "hour", "daily": "day"}


class ConcurrentLanding(RuntimeError):
    """Another process landed into the same table meanwhile; this batch must not be committed."""


@dataclass(frozen=True)
class LandingState:
    """What has been landed: next offset per "topic:partition", and staged file names."""

    offsets: dict[str, int] = field(default_factory=dict)
    files: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps({"offsets": self.offsets, "files": sorted(self.files)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> LandingState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(dict(data.get("offsets", {})), frozenset(data.get("files", [])))

    def topic_offsets(self, topic: str) -> dict[int, int]:
        prefix = f"{topic}:"
        return {
            int(key[len(prefix) :]): offset
            for key, offset in self.offsets.items()
            if key.startswith(prefix)
        }

    def with_offsets(self, topic: str, offsets: dict[int, int]) -> LandingState:
        merged = dict(self.offsets)
        merged.update({f"{topic}:{partition}": offset for partition, offset in offsets.items()})
        return replace(self, offsets=merged)


@dataclass
class LandResult:
    landed: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    dropped: int = 0
    duplicates: int = 0
    partitions: Counter[datetime] = field(default_factory=Counter)  # partition start -> rows

    def add(self, other: LandResult) -> None:
        self.landed += other.landed
        self.rejected.extend(other.rejected)
        self.dropped += other.dropped
        self.duplicates += other.duplicates
        self.partitions.update(other.partitions)


class Lander:
    """Lands batches of raw events into one dataset's table."""

    def __init__(self, lake: Lake, domain: str, dataset: Dataset, decoder: EventDecoder):
        self.lake = lake
        self.domain = domain
        self.dataset = dataset
        self.decoder = decoder
        self.name = f"{domain}.{dataset.name}"
        self._ids: dict[datetime, set[Any]] = {}  # ids already in each touched partition
        self._unit = GRANULARITY_UNITS[dataset.partitioning.granularity]
        self._id_column = next(
            c.name for c in dataset.columns if (c.source or c.name) == decoder.id_field
        )

    def state(self) -> LandingState:
        table = self.lake.table(self.domain, self.dataset)
        return LandingState.from_json(table.properties.get(STATE_PROPERTY))

    def prepare(self, lines: Iterable[tuple[str, bytes]]) -> tuple[pa.Table, LandResult]:
        """Decode a batch into the rows that would land (the ones not landed yet) and counts."""
        decoded = self.decoder.decode(lines)
        rows = events_to_arrow(decoded.events, self.dataset.columns)
        rows, duplicates = self._drop_landed(rows)
        result = LandResult(
            landed=rows.num_rows,
            rejected=decoded.rejected,
            dropped=decoded.dropped,
            duplicates=decoded.duplicates + duplicates,
        )
        result.partitions.update(self._partition_counts(rows))
        return conform(rows, self.dataset, self.name), result

    def remember(self, rows: pa.Table) -> None:
        """Count the rows' ids as landed, for deduplicating later batches."""
        for start in self._partition_counts(rows):
            self._ids.setdefault(start, set()).update(
                pc.filter(rows[self._id_column], self._in_partition(rows, start)).to_pylist()
            )

    def land(
        self, lines: Iterable[tuple[str, bytes]], expected: LandingState, new: LandingState
    ) -> LandResult:
        """Decode, deduplicate and append a batch, moving the landing state from `expected` to
        `new` in the same commit. Refuses if the table's state is no longer `expected`."""
        rows, result = self.prepare(lines)
        if result.rejected:
            self._keep_rejected(result.rejected)
        self._commit(rows, expected, new)
        self.remember(rows)
        return result

    def _partition_starts(self, rows: pa.Table) -> pa.Array:
        time_column = rows[self.dataset.partitioning.time_column]
        return pc.floor_temporal(time_column, unit=self._unit).combine_chunks()

    def _partition_counts(self, rows: pa.Table) -> dict[datetime, int]:
        if not rows.num_rows:
            return {}
        counts = pc.value_counts(self._partition_starts(rows))
        return {v["values"].as_py(): v["counts"].as_py() for v in counts}

    def _in_partition(self, rows: pa.Table, start: datetime) -> pa.Array:
        starts = self._partition_starts(rows)
        return pc.equal(starts, pa.scalar(start, starts.type))

    def _drop_landed(self, rows: pa.Table) -> tuple[pa.Table, int]:
        """Remove rows whose id is already in the table (a producer's retry, a replayed file)."""
        if not rows.num_rows:
            return rows, 0
        if pc.any(pc.is_null(rows[self.dataset.partitioning.time_column])).as_py():
            raise LakeError(f"{self.name}: events without event time cannot be landed")
        for start in self._partition_counts(rows):
            if start not in self._ids:
                end = _next(start, self._unit)
                existing = self.lake.read(
                    self.domain, self.dataset, start, end, columns=(self._id_column,)
                )
                self._ids[start] = set(existing[self._id_column].to_pylist())
        landed = set().union(*(self._ids[s] for s in self._partition_counts(rows)))
        if not landed:
            return rows, 0
        keep = pc.invert(pc.is_in(rows[self._id_column], pa.array(list(landed))))
        kept = rows.filter(keep)
        return kept, rows.num_rows - kept.num_rows

    def _keep_rejected(self, rejected: list[Rejected]) -> None:
        """Rejected input goes to the side table, replacing earlier copies of the same origins."""
        now = datetime.now(UTC)
        table = pa.table(
            {
                "origin": pa.array([r.origin for r in rejected], pa.string()),
                "reason": pa.array([r.reason for r in rejected], pa.string()),
                "raw": pa.array([r.raw for r in rejected], pa.string()),
                "rejected_at": pa.array([now] * len(rejected), pa.timestamp("us", tz="UTC")),
            }
        )
        self.lake.replace_rows(
            (self.domain, self.dataset.name + REJECTED_SUFFIX),
            table,
            In("origin", [r.origin for r in rejected]),
        )

    def _commit(self, rows: pa.Table, expected: LandingState, new: LandingState) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self.lake.table(self.domain, self.dataset)
            current = LandingState.from_json(table.properties.get(STATE_PROPERTY))
            if current != expected:
                raise ConcurrentLanding(
                    f"{self.name}: the landing state changed under this batch "
                    f"(expected {expected.to_json()}, found {current.to_json()}); not committed"
                )
            try:
                with self.lake.storage_errors(self.name), table.transaction() as transaction:
                    transaction.append(rows, snapshot_properties={STATE_PROPERTY: new.to_json()})
                    transaction.set_properties({STATE_PROPERTY: new.to_json()})
                return
            except CommitFailedException:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)  # let the other writer finish before re-checking


def _next(start: datetime, unit: str) -> datetime:
    return start + (timedelta(hours=1) if unit == "hour" else timedelta(days=1))
