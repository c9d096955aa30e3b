"""Dataset specs: what a domain team declares about each dataset it owns.

A spec is plain data. The builder (sdp.builder) turns it into Dagster assets and checks; nothing
here imports Dagster, so specs stay cheap to load and easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

CLASSIFICATIONS = ("public", "internal", "private")
# Order matters: a dataset may only hold columns classified at or below its own level.
CLASSIFICATION_RANK = {name: rank for rank, name in enumerate(CLASSIFICATIONS)}
COLUMN_TYPES = ("string", "int32", "int64", "double", "bool", "timestamp", "date")
GRANULARITIES = ("hourly", "daily")
ENGINES = ("duckdb", "spark")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OWNER = re.compile(r"^(team:[a-z0-9][a-z0-9_-]*|[^@\s]+@[^@\s]+\.[^@\s]+)$")


class SpecError(ValueError):
    """A dataset or domain spec is incomplete or inconsistent; the message names which and why."""


@dataclass(frozen=True)
class Column:
    """One column: its type, its classification and, for ingested data, where it comes from."""

    name: str
    type: str
    classification: str
    description: str = ""
    # Dotted path into the source event (e.g. "meta.dt"); defaults to the column name.
    source: str | None = None
    nullable: bool = True


@dataclass(frozen=True)
class Partitioning:
    """Event-time partitions: one partition per hour or day of `time_column`."""

    granularity: str
    time_column: str
    start: str  # first partition, "YYYY-MM-DD" or "YYYY-MM-DD-HH:MM"


def hourly(time_column: str, start: str) -> Partitioning:
    return Partitioning("hourly", time_column, start)


def daily(time_column: str, start: str) -> Partitioning:
    return Partitioning("daily", time_column, start)


@dataclass(frozen=True)
class SqlCheck:
    """A quality check written as SQL that selects the offending rows of `dataset`.

    It passes when the query returns no row; the first offending rows go into the check's metadata.
    """

    name: str
    sql: str
    description: str = ""


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations 1.x expectation, named by its class (e.g. ExpectColumnValuesToBeUnique).

    Kept as a name and keyword arguments so that loading definitions never imports GX (~5 s).
    """

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpectationSuite:
    """A Great Expectations suite run inside an asset check on the materialized partition."""

    name: str
    expectations: tuple[Expectation, ...]
    description: str = ""


Check = SqlCheck | ExpectationSuite


@dataclass(frozen=True)
class DatasetRef:
    """A reference to another dataset, possibly of another domain: "domain.name"."""

    domain: str
    name: str

    def __str__(self) -> str:
        return f"{self.domain}.{self.name}"


def ref(qualified_name: str) -> DatasetRef:
    """Refer to a dataset by "domain.name"; the builder checks at load time that it exists."""
    domain, sep, name = qualified_name.partition(".")
    if not sep or not _NAME.match(domain) or not _NAME.match(name):
        raise SpecError(f"bad dataset reference {qualified_name!r}: expected 'domain.name'")
    return DatasetRef(domain, name)


@dataclass(frozen=True)
class JsonLinesSource:
    """Events or snapshot rows that arrive as JSON lines (files, dumps, later Kafka).

    Every line is validated against `schema` (a schema URI such as /mediawiki/recentchange/1.0.0);
    invalid lines are rejected with the reason, never dropped silently.
    """

    schema: str
    id_field: str  # dotted path of the unique event id used to deduplicate
    # Events for which this returns True are dropped on purpose (e.g. canary events).
    drop: Callable[[Mapping[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Stream:
    """An event stream a domain produces: its Kafka topic and the schema versions it accepts.

    Named like Wikimedia's streams ("mediawiki.recentchange"); each event names its schema in
    `$schema` (e.g. /mediawiki/recentchange/1.0.0), one of `versions` of `schema_title`.
    """

    name: str
    description: str
    schema_title: str
    versions: tuple[str, ...]
    owners: tuple[str, ...]
    classification: str
    topic: str | None = None  # defaults to the stream name
    partitions: int = 1

    @property
    def topic_name(self) -> str:
        return self.topic or self.name

    @property
    def schema_uris(self) -> tuple[str, ...]:
        return tuple(f"/{self.schema_title}/{version}" for version in self.versions)


@dataclass(frozen=True)
class StreamSource:
    """The dataset lands the events of a stream (from Kafka, or replayed from files)."""

    stream: str
    id_field: str  # dotted path of the unique event id used to deduplicate
    drop: Callable[[Mapping[str, Any]], bool] | None = None


Source = JsonLinesSource | StreamSource


@dataclass(frozen=True)
class Sql:
    """A transform written once in SQL (DuckDB dialect) over the upstream datasets by name.

    Each upstream dataset is visible as a table named after it, holding the rows of the partition
    being computed.
    """

    query: str


@dataclass(frozen=True)
class Python:
    """A transform written as a Python function from the upstream tables (Arrow) to one table."""

    function: Callable[..., Any]


@dataclass(frozen=True)
class DbtModel:
    """The dataset is built by a dbt model of the project in dbt_project/."""

    model: str


Transform = Sql | Python | DbtModel


@dataclass(frozen=True)
class Dataset:
    """A dataset a domain owns and shares. Every field a platform user relies on is required."""

    name: str
    description: str
    owners: tuple[str, ...]
    classification: str
    columns: tuple[Column, ...]
    partitioning: Partitioning
    freshness: timedelta  # the SLO: data is at most this old
    retention: timedelta  # partitions older than this are deleted
    source: Source | None = None
    transform: Transform | None = None
    upstream: tuple[DatasetRef, ...] = ()
    checks: tuple[Check, ...] = ()
    tier: str = "silver"  # bronze: raw; silver: cleaned; gold: aggregated for consumers
    engine: str | None = None  # None: the platform's default engine (SDP_ENGINE, duckdb)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class Domain:
    """A team's data products. Declared as `DOMAIN` in sdp_assets/<domain>/__init__.py."""

    name: str
    description: str
    owners: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    streams: tuple[Stream, ...] = ()


def validate_domain(domain: Domain) -> None:
    """Raise SpecError naming the dataset and field for the first incomplete spec found."""
    if not _NAME.match(domain.name or ""):
        raise SpecError(f"domain {domain.name!r}: name must be lowercase snake_case")
    for stream in domain.streams:
        validate_stream(domain.name, stream)
    seen: set[str] = set()
    for dataset in domain.datasets:
        validate_dataset(domain.name, dataset)
        if dataset.name in seen:
            raise SpecError(f"{domain.name}.{dataset.name}: declared twice")
        seen.add(dataset.name)


def validate_stream(domain: str, stream: Stream) -> None:
    where = f"{domain} stream {stream.name!r}"
    if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", stream.name or ""):
        raise SpecError(f"{where}: name must be dotted lowercase, e.g. {domain}.events")
    if not stream.name.startswith(f"{domain}."):
        raise SpecError(f"{where}: a domain's stream names start with '{domain}.'")
    if not stream.versions:
        raise SpecError(f"{where}: declares no schema version")
    if not stream.owners:
        raise SpecError(f"{where}: missing owners")
    if stream.classification not in CLASSIFICATIONS:
        raise SpecError(
            f"{where}: classification {stream.classification!r} not one of {CLASSIFICATIONS}"
        )


def validate_dataset(domain: str, dataset: Dataset) -> None:
    where = f"{domain}.{getattr(dataset, 'name', '?')}"

    def fail(problem: str) -> SpecError:
        return SpecError(f"{where}: {problem}")

    if not _NAME.match(dataset.name or ""):
        raise fail("name must be lowercase snake_case")
    if not (dataset.description or "").strip():
        raise fail("missing description")
    if not dataset.owners:
        raise fail("missing owners")
    for owner in dataset.owners:
        if not _OWNER.match(owner):
            raise fail(f"owner {owner!r} is neither an email nor 'team:<name>'")
    if dataset.classification not in CLASSIFICATIONS:
        raise fail(f"classification {dataset.classification!r} not one of {CLASSIFICATIONS}")
    if not dataset.columns:
        raise fail("missing columns")
    names = [c.name for c in dataset.columns]
    if len(set(names)) != len(names):
        raise fail("duplicate column names")
    for column in dataset.columns:
        if column.type not in COLUMN_TYPES:
            raise fail(f"column {column.name!r} has unknown type {column.type!r}")
        if column.classification not in CLASSIFICATIONS:
            raise fail(
                f"column {column.name!r} is missing a classification (public/internal/private)"
            )
        if CLASSIFICATION_RANK[column.classification] > CLASSIFICATION_RANK[dataset.classification]:
            raise fail(
                f"column {column.name!r} is {column.classification} "
                f"but the dataset is {dataset.classification}"
            )
    if not isinstance(dataset.partitioning, Partitioning):
        raise fail("missing partitioning")
    if dataset.partitioning.granularity not in GRANULARITIES:
        raise fail(f"partitioning granularity must be one of {GRANULARITIES}")
    time_column = dataset.partitioning.time_column
    if time_column not in names or dataset.column(time_column).type != "timestamp":
        raise fail(f"partition column {time_column!r} must be a declared timestamp column")
    if not isinstance(dataset.freshness, timedelta) or dataset.freshness <= timedelta(0):
        raise fail("missing freshness SLO")
    if not isinstance(dataset.retention, timedelta) or dataset.retention <= timedelta(0):
        raise fail("missing retention")
    if (dataset.source is None) == (dataset.transform is None):
        raise fail("needs exactly one of source (ingested) or transform (derived)")
    if dataset.transform is not None and not dataset.upstream:
        raise fail("a derived dataset must name its upstream datasets")
    if dataset.engine is not None and dataset.engine not in ENGINES:
        raise fail(f"engine {dataset.engine!r} is not one of {ENGINES}")
    if dataset.engine is not None and not isinstance(dataset.transform, Sql):
        raise fail("only SQL transforms choose an engine (Python ones run on Arrow)")
    if dataset.tier not in ("bronze", "silver", "gold"):
        raise fail(f"tier {dataset.tier!r} not one of bronze/silver/gold")
    check_names = [c.name for c in dataset.checks]
    if len(set(check_names)) != len(check_names):
        raise fail("duplicate check names")
