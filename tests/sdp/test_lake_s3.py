"""The lake on a real S3 server (SeaweedFS from deploy/seaweedfs.sh): the same partition
semantics as on local disk, the files really in the bucket, landing and the production
environment on S3, and what a wrong configuration gives."""

import re
import uuid

import boto3
import dagster as dg
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from sdp.catalog import DatasetIndex
from sdp.events import EventDecoder
from sdp.lake import Lake, LakeConfig, LakeError
from sdp.lander import Lander
from sdp.landing import land_files
from sdp.schemas import SchemaRegistry
from sdp.staging import Staging
from tests.conftest import HASH_KEY, SAMPLE, free_port
from tests.sdp.test_lake import EVENTS, HOUR, NEXT, rows

pytestmark = pytest.mark.slow

LATER = NEXT + (NEXT - HOUR)


@pytest.fixture
def prefix(s3_server):
    """A key prefix of the shared bucket for one test: tests never see each other's tables."""
    return f"{uuid.uuid4().hex[:12]}/warehouse"


def s3_lake(tmp_path, s3_server, prefix, name="catalog", **overrides) -> Lake:
    """A lake whose warehouse is on the S3 server; the catalog stays SQLite in tmp_path."""
    return Lake(
        LakeConfig(
            f"sqlite:///{tmp_path}/{name}.db",
            f"s3://{s3_server.bucket}/{prefix}",
            properties=s3_server.properties(**overrides),
        )
    )


@pytest.fixture
def lake(tmp_path, s3_server, prefix):
    return s3_lake(tmp_path, s3_server, prefix)


def values(lake, start=None, end=None):
    return sorted(r["value"] for r in lake.read("test", EVENTS, start, end).to_pylist())


def test_partitions_are_replaced_idempotently_and_cleared_on_s3(lake):
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    lake.replace_partition("test", EVENTS, NEXT, LATER, rows((NEXT, 9)))
    assert values(lake) == [1, 2, 9]
    assert values(lake, HOUR, NEXT) == [1, 2]

    # A re-run with the same result changes nothing, a new result replaces the partition only.
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    assert values(lake) == [1, 2, 9]
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 3)))
    assert values(lake) == [3, 9]

    # An empty result clears the partition.
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows())
    assert values(lake) == [9]
    assert values(lake, HOUR, NEXT) == []


def test_data_and_metadata_files_are_objects_in_the_bucket(lake, s3_server, prefix):
    table = lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    bucket_url = f"s3://{s3_server.bucket}/"
    assert table.location() == f"{bucket_url}{prefix}/test/events"

    keys = set(s3_server.keys(prefix))
    data_files = [task.file.file_path for task in table.scan().plan_files()]
    assert data_files
    for path in [*data_files, table.metadata_location]:
        assert path.startswith(bucket_url), path
        assert path.removeprefix(bucket_url) in keys, path
    assert any(k.endswith(".parquet") and "/test/events/data/" in k for k in keys)
    assert any(k.endswith(".avro") and "/test/events/metadata/" in k for k in keys)


def test_server_refuses_unsigned_and_wrongly_signed_requests(s3_server):
    """The credentials are enforced by the server (the script's -s3.config), so the bad
    credentials tests below test the platform, not an open server."""
    anonymous = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    wrong = s3_server.client(aws_secret_access_key="not-the-secret")
    for client in (anonymous, wrong):
        with pytest.raises(ClientError) as refused:
            client.list_objects_v2(Bucket=s3_server.bucket)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3_server.client().list_objects_v2(Bucket=s3_server.bucket)


def lander(lake: Lake) -> Lander:
    """The Lander of mediawiki.recentchange, built the way the landing op builds it."""
    from sdp_assets import definitions

    index = DatasetIndex(definitions.domains())
    entry = index.get("mediawiki.recentchange")
    decoder = EventDecoder.for_source(entry.dataset.source, SchemaRegistry(), index.streams)
    return Lander(lake, entry.domain.name, entry.dataset, decoder)


def test_landing_staged_files_to_s3_matches_local_disk(tmp_path, s3_server, prefix):
    staging = Staging(tmp_path / "staging")
    staging.stage("mediawiki", "recentchange", SAMPLE)
    local = lander(Lake(LakeConfig(f"sqlite:///{tmp_path}/local.db", (tmp_path / "wh").as_uri())))
    on_s3 = lander(s3_lake(tmp_path, s3_server, prefix))

    landers = {"local": local, "s3": on_s3}
    landed = {name: land_files(each, staging) for name, each in landers.items()}

    assert landed["s3"].landed == landed["local"].landed > 0
    assert landed["s3"].partitions == landed["local"].partitions
    ids = {
        name: sorted(each.lake.read(each.domain, each.dataset)["meta_id"].to_pylist())
        for name, each in landers.items()
    }
    assert ids["s3"] == ids["local"]
    assert len(set(ids["s3"])) == landed["s3"].landed
    assert any(k.endswith(".parquet") for k in s3_server.keys(f"{prefix}/mediawiki/recentchange/"))
    # The staged file is recorded as landed in the same commit: landing again adds nothing.
    assert land_files(on_s3, staging).landed == 0
    assert on_s3.state().files == {p.name for p in staging.files("mediawiki", "recentchange")}


def production_env(monkeypatch, tmp_path, s3_server, prefix) -> None:
    """SDP_ENV=production wired to the S3 server, the catalog SQLite in tmp_path."""
    for variable, value in {
        "SDP_ENV": "production",
        "SDP_HOME": str(tmp_path / "sdp"),
        "SDP_USER_HASH_KEY": HASH_KEY,
        "SDP_CATALOG_URI": f"sqlite:///{tmp_path}/catalog.db",
        "SDP_WAREHOUSE": f"s3://{s3_server.bucket}/{prefix}",
        "SDP_S3_ENDPOINT": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": "us-east-1",
        # Required by the production environment, not used: staged files only.
        "SDP_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "SDP_KAFKA_USERNAME": "unused",
        "SDP_KAFKA_PASSWORD": "unused",
    }.items():
        monkeypatch.setenv(variable, value)


def test_production_environment_lands_and_materializes_on_s3(
    tmp_path, monkeypatch, s3_server, prefix
):
    """The landing job and the hourly derived datasets run with the lake on S3."""
    from sdp.runs import land
    from sdp_assets import definitions

    production_env(monkeypatch, tmp_path, s3_server, prefix)
    defs = definitions.defs()
    index = DatasetIndex(definitions.domains())
    lakehouse = defs.resources["lakehouse"]
    lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)

    with dg.instance_for_test() as instance:
        landing, _ = land(defs, index.get("mediawiki.recentchange"), instance, topic=False)
        assert landing.success
        hourly = [
            "mediawiki.recentchange",
            "mediawiki.recentchange_sanitized",
            "mediawiki.edits_hourly",
        ]
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=dg.AssetSelection.assets(*(index.key(k) for k in hourly)),
            partition_key="2026-09-17-03:00",
            resources=defs.resources,
            instance=instance,
            raise_on_error=False,
        )
    assert result.success
    with lakehouse.process_config_and_initialize_cm() as resolved:
        lake = resolved.lake()
    for name in hourly:
        entry = index.get(name)
        assert lake.read(entry.domain.name, entry.dataset).num_rows > 0, name
        location = lake.location(entry.domain.name, entry.dataset)
        assert location.startswith(f"s3://{s3_server.bucket}/{prefix}/"), location
        folder = location.removeprefix(f"s3://{s3_server.bucket}/")
        assert any(k.endswith(".parquet") for k in s3_server.keys(f"{folder}/data/")), name


def test_production_lake_outside_a_run_uses_the_credentials(
    tmp_path, monkeypatch, s3_server, prefix
):
    from sdp_assets import definitions

    production_env(monkeypatch, tmp_path, s3_server, prefix)
    lake = definitions.defs().resources["lakehouse"].lake()
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1)))
    assert values(lake) == [1]


# ---------------------------------------------------------------- wrong configuration

# Each operation on a table the catalog already knows, and the creation of a new one.
OPERATIONS = {
    "replace": lambda lake: lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 7))),
    "read": lambda lake: lake.read("test", EVENTS),
    "create": lambda lake: lake.table("test", EVENTS),
}
BAD_CREDENTIALS = {
    "wrong secret": {"s3.secret-access-key": "not-the-secret"},
    "unknown key": {"s3.access-key-id": "nobody"},
}


def read_only_credentials(s3_server) -> dict[str, str]:
    """Credentials of the server's identity that may read and list, not write."""
    return {
        "s3.access-key-id": s3_server.readonly_key,
        "s3.secret-access-key": s3_server.readonly_secret,
    }


@pytest.fixture
def stored(tmp_path, s3_server, prefix):
    """A table on S3 holding one partition, written with the right credentials."""
    lake = s3_lake(tmp_path, s3_server, prefix)
    lake.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 1), (HOUR, 2)))
    return lake


def misconfigured(tmp_path, s3_server, prefix, operation, **overrides) -> Lake:
    """A lake on the same catalog as `stored` (or an empty one to create a table in)."""
    name = "fresh" if operation == "create" else "catalog"
    return s3_lake(tmp_path, s3_server, prefix, name=name, **overrides)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_wrong_credentials_fail_and_leave_stored_data_untouched(
    tmp_path, s3_server, prefix, stored, operation, credentials
):
    metadata = stored.table("test", EVENTS).metadata_location
    lake = misconfigured(tmp_path, s3_server, prefix, operation, **BAD_CREDENTIALS[credentials])

    # A LakeError naming the table, which keeps pyarrow's text about the refusal.
    with pytest.raises(LakeError, match="AWS Error ACCESS_DENIED"):
        OPERATIONS[operation](lake)

    assert values(stored) == [1, 2]
    assert stored.catalog.load_table(("test", "events")).metadata_location == metadata


def test_refused_write_leaves_stored_data_untouched(tmp_path, s3_server, prefix, stored):
    """Credentials that may read but not write: the table loads, and the server refuses the
    write itself, in the middle of the replacement. Nothing is committed, nothing is left."""
    metadata = stored.table("test", EVENTS).metadata_location
    keys = set(s3_server.keys(prefix))
    reader = s3_lake(tmp_path, s3_server, prefix, **read_only_credentials(s3_server))
    assert values(reader) == [1, 2]

    with pytest.raises((OSError, LakeError), match="AWS Error ACCESS_DENIED"):
        reader.replace_partition("test", EVENTS, HOUR, NEXT, rows((HOUR, 7)))

    assert values(stored) == [1, 2]
    assert stored.catalog.load_table(("test", "events")).metadata_location == metadata
    assert set(s3_server.keys(prefix)) == keys


def test_refused_landing_commits_nothing(tmp_path, s3_server, prefix):
    """The Lander's own commit (not Lake.replace_partition) refused: no rows, no landing state,
    and the same files land in full afterwards with the right credentials."""
    staging = Staging(tmp_path / "staging")
    staging.stage("mediawiki", "recentchange", SAMPLE)
    writer = lander(s3_lake(tmp_path, s3_server, prefix))
    writer.state()  # creates the empty table
    reader = lander(s3_lake(tmp_path, s3_server, prefix, **read_only_credentials(s3_server)))

    with pytest.raises((OSError, LakeError), match="AWS Error ACCESS_DENIED"):
        land_files(reader, staging)

    assert writer.state().files == frozenset()
    assert writer.lake.read(writer.domain, writer.dataset).num_rows == 0
    assert land_files(writer, staging).landed > 0


@pytest.mark.parametrize(
    "operation, read_only",
    [*((operation, False) for operation in OPERATIONS), ("replace", True)],
    ids=[*OPERATIONS, "replace-read-only"],
)
def test_refused_credentials_error_names_dataset_and_problem(
    tmp_path, s3_server, prefix, stored, operation, read_only
):
    credentials = read_only_credentials(s3_server) if read_only else BAD_CREDENTIALS["wrong secret"]
    lake = misconfigured(tmp_path, s3_server, prefix, operation, **credentials)
    with pytest.raises(LakeError, match=r"^test\.events: .*credentials"):
        OPERATIONS[operation](lake)


@pytest.fixture
def closed_endpoint():
    """An S3 endpoint on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unreachable_endpoint_fails(
    tmp_path, s3_server, prefix, stored, operation, closed_endpoint
):
    lake = misconfigured(tmp_path, s3_server, prefix, operation, **{"s3.endpoint": closed_endpoint})

    # Today pyarrow's OSError after its retries (~1-2 s), naming the connection failure.
    with pytest.raises((OSError, LakeError), match="NETWORK_CONNECTION.*Could not connect"):
        OPERATIONS[operation](lake)

    assert values(stored) == [1, 2]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unreachable_endpoint_error_names_dataset_and_problem(
    tmp_path, s3_server, prefix, stored, operation, closed_endpoint
):
    lake = misconfigured(tmp_path, s3_server, prefix, operation, **{"s3.endpoint": closed_endpoint})
    expected = rf"^test\.events: .*{re.escape(closed_endpoint)}.*unreachable"
    with pytest.raises(LakeError, match=expected):
        OPERATIONS[operation](lake)
