"""Shared fixtures: a platform on embedded defaults in a temporary SDP_HOME."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from sdp.catalog import DatasetIndex

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sdp_assets" / "mediawiki" / "fixtures" / "recentchange_sample_500.jsonl"
HASH_KEY = "test-hash-key"


def sample_events() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


@dataclass
class Platform:
    home: Path
    defs: dg.Definitions
    index: DatasetIndex

    @property
    def lakehouse(self):
        return self.defs.resources["lakehouse"]

    @property
    def lake(self):
        return self.lakehouse.lake()

    def read(self, qualified_name: str, start=None, end=None):
        entry = self.index.get(qualified_name)
        return self.lake.read(entry.domain.name, entry.dataset, start, end)

    def land(self, qualified_name: str = "mediawiki.recentchange", topic: bool = False):
        from sdp.runs import land

        result, _ = land(
            self.defs, self.index.get(qualified_name), dg.DagsterInstance.ephemeral(), topic
        )
        return result

    def materialize(self, keys, partition_key: str, instance=None) -> dg.ExecuteInJobResult:
        selection = dg.AssetSelection.assets(*(self.index.key(k) for k in keys))
        return dg.materialize(
            [*self.defs.assets, *self.defs.asset_checks],
            selection=selection,
            partition_key=partition_key,
            resources=self.defs.resources,
            instance=instance or dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )


def landing_summary(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of a landing run's summary output, as plain values."""
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in output.event_specific_data.metadata.items()}


def make_platform(home: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("SDP_HOME", str(home))
    monkeypatch.setenv("SDP_USER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("SDP_ENV", raising=False)
    from sdp_assets import definitions

    return Platform(home, definitions.defs(), DatasetIndex(definitions.domains()))


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """A fresh, empty platform per test."""
    return make_platform(tmp_path / "sdp", monkeypatch)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole demo materialized once from the real sample events (shared, read-only)."""
    from sdp.runs import land, materialize_touched
    from sdp.spec import ref

    with pytest.MonkeyPatch.context() as monkeypatch:
        platform = make_platform(tmp_path_factory.mktemp("demo") / "sdp", monkeypatch)
        platform.lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)
        with dg.instance_for_test() as instance:
            landing, times = land(
                platform.defs, platform.index.get("mediawiki.recentchange"), instance, topic=False
            )
            assert landing.success
            platform.landing = landing  # type: ignore[attr-defined]
            results = materialize_touched(
                platform.defs, platform.index, ref("mediawiki.recentchange"), times, instance
            )
            assert all(r.success for r in results)
            platform.results = results  # type: ignore[attr-defined]
            yield platform


class KafkaBroker:
    """A real single-node broker started by deploy/kafka.sh in a temporary folder."""

    def __init__(self, state_dir: Path, port: int, controller_port: int):
        self.env = {
            **os.environ,
            "SDP_KAFKA_DIR": str(state_dir),
            "SDP_KAFKA_PORT": str(port),
            "SDP_KAFKA_CONTROLLER_PORT": str(controller_port),
        }
        self.bootstrap = f"127.0.0.1:{port}"

    def run(self, command: str) -> None:
        subprocess.run(
            ["bash", str(REPO / "deploy" / "kafka.sh"), command],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
    broker.run("start")
    try:
        yield broker
    finally:
        gc.collect()  # Kafka clients still referenced by finished tests stop before the broker
        broker.run("stop")


@pytest.fixture
def streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: KafkaBroker
) -> Platform:
    """A fresh platform on the real broker, with its stream topics created empty."""
    from confluent_kafka.admin import AdminClient

    from sdp.producer import ERROR_STREAM, ensure_topics

    monkeypatch.setenv("SDP_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    platform = make_platform(tmp_path / "sdp", monkeypatch)
    admin = AdminClient(kafka_broker.config)
    topics = [s.topic_name for s in platform.index.streams.values()] + [ERROR_STREAM]
    existing = [t for t in topics if t in admin.list_topics(timeout=10).topics]
    for future in admin.delete_topics(existing).values() if existing else ():
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    while set(topics) & set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, "topics were not deleted"
        time.sleep(0.2)
    while True:  # deletion finishes asynchronously: creating may briefly be refused
        try:
            ensure_topics(kafka_broker.config, list(platform.index.streams.values()))
            break
        except Exception:
            assert time.monotonic() < deadline, "topics could not be created"
            time.sleep(0.5)
    platform.kafka = kafka_broker  # type: ignore[attr-defined]
    return platform


TOKENS = {"all-token": frozenset({"*"}), "other-token": frozenset({"other.stream"})}


@pytest.fixture
def intake(streaming: Platform) -> Iterator[str]:
    """The real intake (uvicorn on loopback) in front of the real broker; yields its events URL."""
    import threading

    import uvicorn

    from sdp.intake import IntakeSettings, create_app
    from sdp.producer import EventProducer

    producer = EventProducer(
        streaming.kafka.config, streaming.index.streams, streaming.lakehouse.schemas(), "test"
    )
    app = create_app(producer, IntakeSettings(TOKENS, max_body_bytes=1_000_000))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "intake did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1/events"
    server.should_exit = True
    thread.join(timeout=10)
    producer.flush(10)
    del producer, app  # the Kafka client stops with its last reference


class S3Server:
    """A real SeaweedFS S3 endpoint started by deploy/seaweedfs.sh in a temporary folder, with
    its own credentials and bucket (not the script's defaults, so those are exercised too) and
    a second identity that may only read."""

    PORTS = ("PORT", "GRPC_PORT", "MASTER_PORT", "MASTER_GRPC_PORT", "VOLUME_PORT")
    PORTS += ("VOLUME_GRPC_PORT", "FILER_PORT", "FILER_GRPC_PORT", "ADMIN_PORT", "ADMIN_GRPC_PORT")

    def __init__(self, state_dir: Path):
        ports = dict(zip(self.PORTS, free_ports(len(self.PORTS)), strict=True))
        self.access_key, self.secret_key, self.bucket = "sdp-test", "sdp-test-secret", "sdp-test"
        self.readonly_key, self.readonly_secret = "sdp-reader", "sdp-reader-secret"
        self.endpoint = f"http://127.0.0.1:{ports['PORT']}"
        self.env = {
            **os.environ,
            **{f"SDP_S3_{name}": str(port) for name, port in ports.items()},
            "SDP_S3_DIR": str(state_dir),
            "SDP_S3_ACCESS_KEY": self.access_key,
            "SDP_S3_SECRET_KEY": self.secret_key,
            "SDP_S3_BUCKET": self.bucket,
            "SDP_S3_READONLY_ACCESS_KEY": self.readonly_key,
            "SDP_S3_READONLY_SECRET_KEY": self.readonly_secret,
        }

    def run(self, command: str) -> None:
        subprocess.run(
            ["bash", str(REPO / "deploy" / "seaweedfs.sh"), command],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def properties(self, **overrides: str) -> dict[str, str]:
        """LakeConfig properties for this server; the region is given so that pyiceberg does
        not try to look the bucket's region up at AWS."""
        return {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": self.secret_key,
            "s3.region": "us-east-1",
            **overrides,
        }

    def client(self, **overrides):
        import boto3

        settings = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
            **overrides,
        }
        return boto3.client("s3", **settings)

    def keys(self, prefix: str) -> list[str]:
        """Every object key under `prefix` in the bucket."""
        paginator = self.client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all held open at once, so the kernel cannot hand one out twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.run("start")
        yield server
    finally:
        server.run("stop")  # a no-op when the start failed half-way
