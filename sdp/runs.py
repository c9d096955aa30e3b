"""Landing new input and materializing the partitions it touched, downstream included.

Used by `sdp load --materialize`, `sdp land` and the demo; in production the stream sensors,
declarative automation and the scheduled recompute do the same through the daemon.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import dagster as dg

from sdp.builder import partitions_def
from sdp.catalog import DatasetIndex, Entry
from sdp.ingestion import landing_job_name
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


def land(
    defs: dg.Definitions, entry: Entry, instance: dg.DagsterInstance, topic: bool = True
) -> tuple[dg.ExecuteInProcessResult, list[datetime]]:
    """Run the dataset's landing job (staged files, and its topic unless `topic` is False);
    returns the result and the starts of the partitions it touched."""
    job = defs.resolve_job_def(landing_job_name(entry))
    op_name = job.nodes[0].name
    result = job.execute_in_process(
        instance=instance,
        resources=defs.resources,
        run_config={"ops": {op_name: {"config": {"topic": topic}}}},
        raise_on_error=False,
    )
    definition = partitions_def(entry.dataset.partitioning)
    starts = [
        definition.time_window_for_partition_key(event.partition).start
        for event in result.get_asset_materialization_events()
        if event.partition
    ]
    return result, starts


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
