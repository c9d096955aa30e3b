"""Ingested datasets: their Kafka topics as external assets, and the jobs that land new input.

A landing job lands what is new for one dataset (staged files, then the stream's topic up to
the requested offsets) and reports each touched partition as materialized with its event count,
which is what sets the incremental path (declarative automation downstream) in motion.
"""

from typing import Any

from dagster import (
    AssetMaterialization,
    AssetSpec,
    Config,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    job,
    op,
)

from sdp.builder import partitions_def, topic_key
from sdp.catalog import DatasetIndex, Entry
from sdp.events import EventDecoder
from sdp.lander import REJECTED_SUFFIX, Lander, LandResult
from sdp.landing import DEFAULT_BATCH, land_files, land_topic
from sdp.platform import KAFKA, LAKEHOUSE, Kafka, Lakehouse
from sdp.spec import Stream


def topic_spec(index: DatasetIndex, stream: Stream) -> AssetSpec:
    domain = index.stream_domains[stream.name]
    return AssetSpec(
        key=topic_key(stream),
        description=f"Kafka topic of stream {stream.name}: {stream.description}",
        group_name=domain.name,
        owners=list(stream.owners),
        kinds={"kafka"},
        tags={"classification": stream.classification, "domain": domain.name},
        metadata={
            "topic": stream.topic_name,
            "stream": stream.name,
            "schemas": MetadataValue.json(list(stream.schema_uris)),
            "classification": stream.classification,
        },
    )


class LandingConfig(Config):
    """Land up to these offsets (partition -> offset; default: the high watermarks at start)."""

    end_offsets: dict[str, int] = {}
    batch_size: int = DEFAULT_BATCH
    topic: bool = True  # False lands staged files only (no broker needed)


def landing_job_name(entry: Entry) -> str:
    return f"land__{entry.domain.name}__{entry.dataset.name}"


def build_landing_job(index: DatasetIndex, entry: Entry) -> JobDefinition:
    stream = index.stream_of(entry)
    partitions = partitions_def(entry.dataset.partitioning)
    resources = {LAKEHOUSE, KAFKA} if stream else {LAKEHOUSE}

    @op(name=f"land_{entry.domain.name}__{entry.dataset.name}", required_resource_keys=resources)
    def land(context: OpExecutionContext, config: LandingConfig) -> Any:
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        decoder = EventDecoder.for_source(entry.dataset.source, lakehouse.schemas(), index.streams)
        lander = Lander(lakehouse.lake(), entry.domain.name, entry.dataset, decoder)
        result = land_files(lander, lakehouse.staging())
        if stream is not None and config.topic:
            kafka: Kafka = getattr(context.resources, KAFKA)
            end = {int(p): o for p, o in config.end_offsets.items()} or None
            result.add(
                land_topic(lander, kafka.client_config(), stream.topic_name, end, config.batch_size)
            )
        for start, count in sorted(result.partitions.items()):
            yield AssetMaterialization(
                asset_key=entry.key,
                partition=partitions.get_partition_key_for_timestamp(start.timestamp()),
                metadata={"events_landed": count, "landing_run": context.run.run_id},
            )
        yield Output(None, metadata=summary(entry, lander, result))

    @job(name=landing_job_name(entry), description=f"Land new input of {entry.qualified_name}.")
    def landing_job() -> None:
        land()

    return landing_job


def summary(entry: Entry, lander: Lander, result: LandResult) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for rejected in result.rejected:
        kind = rejected.reason.split(":")[0]
        reasons[kind] = reasons.get(kind, 0) + 1
    return {
        "events_landed": result.landed,
        "partitions_touched": len(result.partitions),
        "rejected_events": len(result.rejected),
        "rejected_by_reason": MetadataValue.json(reasons),
        "rejected_table": f"{entry.qualified_name}{REJECTED_SUFFIX}",
        "dropped_events": result.dropped,
        "duplicate_events": result.duplicates,
        "landing_state": MetadataValue.json(lander.state().to_json()),
    }
