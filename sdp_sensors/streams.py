"""One sensor per stream-fed dataset: requests a landing run when its topic or staging has news.

The truth about what has landed is the landing state in the dataset's Iceberg table (offsets
committed with the data); the cursor mirrors it, so it advances only after a landing committed.
Run keys are derived from the committed offsets: while a landing of that range is queued or
running, later ticks ask for the same key and Dagster does not launch it twice; a failed landing
is retried under a new key.
"""

from __future__ import annotations

import hashlib
import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from sdp.catalog import DatasetIndex, Entry
from sdp.ingestion import landing_job_name
from sdp.lander import STATE_PROPERTY, LandingState
from sdp.landing import topic_end_offsets
from sdp.platform import Kafka, Lakehouse
from sdp.spec import Stream
from sdp_resources.kafka import KafkaResource
from sdp_resources.lakehouse import LakehouseResource

MINIMUM_INTERVAL_SECONDS = 5
FAILED = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def landing_request(
    context: SensorEvaluationContext,
    entry: Entry,
    stream: Stream,
    lakehouse: Lakehouse,
    kafka: Kafka,
) -> SensorResult | SkipReason:
    table = lakehouse.lake().table(entry.domain.name, entry.dataset)
    state = LandingState.from_json(table.properties.get(STATE_PROPERTY))
    committed = state.topic_offsets(stream.topic_name)
    end = topic_end_offsets(kafka.client_config(), stream.topic_name)
    staged = sorted(
        p.name
        for p in lakehouse.staging().files(entry.domain.name, entry.dataset.name)
        if p.name not in state.files
    )
    cursor = json.dumps({"committed": {str(p): o for p, o in sorted(committed.items())}})
    behind = {p: o for p, o in end.items() if o > committed.get(p, 0)}
    if not behind and not staged:
        return SensorResult(skip_reason=f"{stream.topic_name} fully landed", cursor=cursor)
    key = run_key(stream, committed, staged)
    key = retry_key(context, key)
    op_name = f"land_{entry.domain.name}__{entry.dataset.name}"
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=key,
                run_config={
                    "ops": {
                        op_name: {"config": {"end_offsets": {str(p): o for p, o in end.items()}}}
                    }
                },
                tags={
                    "sdp/stream": stream.name,
                    "sdp/events_behind": str(
                        sum(o - committed.get(p, 0) for p, o in behind.items())
                    ),
                },
            )
        ],
        cursor=cursor,
    )


def run_key(stream: Stream, committed: dict[int, int], staged: list[str]) -> str:
    offsets = ",".join(f"{p}:{o}" for p, o in sorted(committed.items())) or "start"
    files = hashlib.sha256("\n".join(staged).encode()).hexdigest()[:12] if staged else ""
    return f"{stream.topic_name}@{offsets}" + (f"+files:{files}" if files else "")


def retry_key(context: SensorEvaluationContext, key: str) -> str:
    """The key itself, or the next retry key when the landing under it has failed."""
    attempt, candidate = 0, key
    while True:
        runs = context.instance.get_runs(
            filters=RunsFilter(tags={"dagster/run_key": candidate}), limit=1
        )
        if not runs or runs[0].status not in FAILED:
            return candidate
        attempt += 1
        candidate = f"{key}#retry{attempt}"


def build_stream_sensor(entry: Entry, stream: Stream) -> SensorDefinition:
    @sensor(
        name=f"{entry.domain.name}__{entry.dataset.name}__landing",
        job_name=landing_job_name(entry),
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Lands new events of stream {stream.name} into {entry.qualified_name}.",
    )
    def _landing_sensor(
        context: SensorEvaluationContext, lakehouse: LakehouseResource, kafka: KafkaResource
    ):
        return landing_request(context, entry, stream, lakehouse, kafka)

    return _landing_sensor


def stream_sensors(index: DatasetIndex) -> list[SensorDefinition]:
    return [
        build_stream_sensor(entry, stream)
        for entry in index
        if (stream := index.stream_of(entry)) is not None
    ]
