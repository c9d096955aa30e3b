"""Materializing the partitions that new data touched: a dataset and everything downstream of it.

Used by `sdp load --materialize` and the demo; the UI and the daemon do the same through
Dagster's own runs and backfills.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import dagster as dg

from sdp.builder import partitions_def
from sdp.catalog import DatasetIndex, Entry
from sdp.spec import GRANULARITIES, DatasetRef


def downstream_closure(index: DatasetIndex, start: DatasetRef) -> list[Entry]:
    """The dataset and every dataset that depends on it, directly or not."""
    found: dict[DatasetRef, Entry] = {}
    pending = [start]
    while pending:
        reference = pending.pop()
        if reference in found:
            continue
        entry = index.get(reference)
        found[reference] = entry
        pending.extend(
            DatasetRef(e.domain.name, e.dataset.name) for e in index.downstream(reference)
        )
    return list(found.values())


def partition_keys(entry: Entry, times: Iterable[datetime]) -> list[str]:
    """The keys of the entry's partitions that contain any of `times`."""
    definition = partitions_def(entry.dataset.partitioning)
    return sorted({definition.get_partition_key_for_timestamp(t.timestamp()) for t in times})


def materialize_touched(
    defs: dg.Definitions,
    index: DatasetIndex,
    start: DatasetRef,
    times: Iterable[datetime],
    instance: dg.DagsterInstance,
) -> list[dg.ExecuteInJobResult]:
    """One run per touched partition: hourly datasets first, then the daily ones built on them."""
    times = list(times)
    closure = downstream_closure(index, start)
    definitions = [*defs.assets, *defs.asset_checks]
    results = []
    for granularity in GRANULARITIES:
        entries = [e for e in closure if e.dataset.partitioning.granularity == granularity]
        if not entries:
            continue
        selection = dg.AssetSelection.assets(*(e.key for e in entries))
        for key in partition_keys(entries[0], times):
            results.append(
                dg.materialize(
                    definitions,
                    selection=selection,
                    partition_key=key,
                    resources=defs.resources,
                    instance=instance,
                    tags={"sdp/trigger": f"touched:{start}"},
                )
            )
    return results
