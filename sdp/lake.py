"""The lake: Apache Iceberg tables in a SQL catalog (SQLite locally, PostgreSQL in production).

Each dataset is the table `<domain>.<name>`, partitioned by the hour or day of its event time.
Writing a partition replaces it in one Iceberg commit (overwrite with a filter on the partition's
time window), so a re-run is idempotent and an empty result clears the partition.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, GreaterThanOrEqual, LessThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from sdp.events import arrow_schema
from sdp.spec import Column, Dataset

ICEBERG_TYPES = {
    "string": StringType,
    "int32": IntegerType,
    "int64": LongType,
    "double": DoubleType,
    "bool": BooleanType,
    "timestamp": TimestamptzType,
    "date": DateType,
}
TRANSFORMS = {"hourly": HourTransform, "daily": DayTransform}
COMMIT_ATTEMPTS = 5
# pyiceberg silently rebases a conflicting commit onto the new head; our writers check their own
# preconditions (landing state, partition contents) and retry themselves, so it must not.
TABLE_PROPERTIES = {"commit.retry.num-retries": "0"}
# How object stores word refused credentials and unreachable endpoints (pyarrow's S3 errors).
REFUSED = re.compile(r"ACCESS_DENIED|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch")
UNREACHABLE = re.compile(r"NETWORK_CONNECTION|Could not (connect|resolve)|curlCode: (6|7|28)")


class LakeError(RuntimeError):
    """A lake operation was refused; the message names the table and the problem."""


@dataclass(frozen=True)
class LakeConfig:
    """Where the catalog and the data files live. Only this changes between environments."""

    catalog_uri: str  # sqlite:////abs/catalog.db or postgresql+psycopg2://...
    warehouse: str  # file:///abs/warehouse or s3://bucket/prefix
    catalog_name: str = "sdp"
    properties: Mapping[str, str] = field(default_factory=dict)  # e.g. s3.endpoint, credentials


def iceberg_schema(columns: tuple[Column, ...]) -> Schema:
    return Schema(
        *(
            NestedField(
                i, c.name, ICEBERG_TYPES[c.type](), required=False, doc=c.description or None
            )
            for i, c in enumerate(columns, start=1)
        )
    )


def table_location(warehouse: str, domain: str, name: str) -> str:
    """Where a dataset's table lives: <warehouse>/<domain>/<dataset>, set explicitly at creation."""
    return f"{warehouse.rstrip('/')}/{domain}/{name}"


def window_filter(time_column: str, start: datetime, end: datetime) -> BooleanExpression:
    return And(
        GreaterThanOrEqual(time_column, start.isoformat()), LessThan(time_column, end.isoformat())
    )


class Lake:
    def __init__(self, config: LakeConfig):
        self.config = config
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = SqlCatalog(
                self.config.catalog_name,
                uri=self.config.catalog_uri,
                warehouse=self.config.warehouse,
                **dict(self.config.properties),
            )
        return self._catalog

    @contextmanager
    def storage_errors(self, name: str) -> Iterator[None]:
        """Turn storage failures into a LakeError naming the table and what to check."""
        try:
            yield
        except OSError as error:
            raise LakeError(self._storage_problem(name, error)) from error

    def _storage_problem(self, name: str, error: OSError) -> str:
        endpoint = self.config.properties.get("s3.endpoint") or "the default S3 endpoint"
        if REFUSED.search(str(error)):
            key = self.config.properties.get("s3.access-key-id", "from the environment")
            return (
                f"{name}: {endpoint} refused the S3 credentials (access key {key!r}) for "
                f"{self.config.warehouse}; check s3.access-key-id, s3.secret-access-key and "
                f"their permissions ({error})"
            )
        if UNREACHABLE.search(str(error)):
            return f"{name}: the S3 endpoint {endpoint} is unreachable; check s3.endpoint ({error})"
        return f"{name}: storage error in {self.config.warehouse}: {error}"

    def table(self, domain: str, dataset: Dataset) -> Table:
        """The dataset's table, created on first use; new declared columns are added."""
        with self.storage_errors(f"{domain}.{dataset.name}"):
            return self._table(domain, dataset)

    def _table(self, domain: str, dataset: Dataset) -> Table:
        identifier = (domain, dataset.name)
        try:
            table = self.catalog.load_table(identifier)
        except NoSuchTableError:
            self.catalog.create_namespace_if_not_exists(domain)
            schema = iceberg_schema(dataset.columns)
            time_field = schema.find_field(dataset.partitioning.time_column)
            spec = PartitionSpec(
                PartitionField(
                    source_id=time_field.field_id,
                    field_id=1000,
                    transform=TRANSFORMS[dataset.partitioning.granularity](),
                    name=f"{time_field.name}_{dataset.partitioning.granularity[:-2]}",
                )
            )
            return self.catalog.create_table_if_not_exists(
                identifier,
                schema,
                location=table_location(self.config.warehouse, domain, dataset.name),
                partition_spec=spec,
                properties=TABLE_PROPERTIES,
            )
        if any(table.properties.get(k) != v for k, v in TABLE_PROPERTIES.items()):
            with table.transaction() as transaction:
                transaction.set_properties(TABLE_PROPERTIES)
        missing = [c for c in dataset.columns if c.name not in table.schema().column_names]
        if missing:
            with table.update_schema() as update:
                for column in missing:
                    update.add_column(column.name, ICEBERG_TYPES[column.type](), column.description)
        return table

    def replace_partition(
        self,
        domain: str,
        dataset: Dataset,
        start: datetime,
        end: datetime,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
    ) -> Table:
        """Atomically replace every row with event time in [start, end) by `data`."""
        name = f"{domain}.{dataset.name}"
        time_column = dataset.partitioning.time_column
        data = conform(data, dataset, name)
        if data.num_rows:
            times = data[time_column]
            outside = pc.sum(
                pc.or_kleene(
                    pc.or_kleene(
                        pc.less(times, pa.scalar(start, times.type)),
                        pc.greater_equal(times, pa.scalar(end, times.type)),
                    ),
                    pc.is_null(times),
                )
            ).as_py()
            if outside:
                raise LakeError(
                    f"{name}: {outside} rows have {time_column} outside the partition "
                    f"[{start.isoformat()}, {end.isoformat()}); nothing was written"
                )
        table = self.table(domain, dataset)
        overwrite_filter = window_filter(time_column, start, end)
        with self.storage_errors(name):
            return self._commit(
                table,
                lambda t: t.overwrite(
                    data,
                    overwrite_filter=overwrite_filter,
                    snapshot_properties=dict(properties or {}),
                ),
            )

    def read(
        self,
        domain: str,
        dataset: Dataset,
        start: datetime | None = None,
        end: datetime | None = None,
        columns: tuple[str, ...] | None = None,
    ) -> pa.Table:
        """Rows of the dataset, optionally those with event time in [start, end)."""
        table = self.table(domain, dataset)
        row_filter: BooleanExpression = AlwaysTrue()
        if start is not None and end is not None:
            row_filter = window_filter(dataset.partitioning.time_column, start, end)
        selected = columns or tuple(c.name for c in dataset.columns)
        with self.storage_errors(f"{domain}.{dataset.name}"):
            data = table.scan(row_filter=row_filter, selected_fields=selected).to_arrow()
        wanted = [dataset.column(c) for c in selected]
        return data.select(list(selected)).cast(arrow_schema(wanted))

    def location(self, domain: str, dataset: Dataset) -> str:
        return self.table(domain, dataset).location()

    def replace_rows(
        self, identifier: tuple[str, str], data: pa.Table, replace_filter: BooleanExpression
    ) -> None:
        """Replace the rows matching `replace_filter` of a side table (created on first use)."""
        with self.storage_errors(".".join(identifier)):
            self.catalog.create_namespace_if_not_exists(identifier[0])
            table = self.catalog.create_table_if_not_exists(
                identifier, data.schema, properties=TABLE_PROPERTIES
            )
            self._commit(table, lambda t: t.overwrite(data, overwrite_filter=replace_filter))

    def _commit(self, table: Table, write) -> Table:
        """Run a write, retrying when a concurrent writer committed first (optimistic locking)."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                with warnings.catch_warnings():
                    # Replacing a partition that holds nothing yet is normal, not worth a warning.
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    write(table)
                return table
            except CommitFailedException:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)
                table = self.catalog.load_table(table.name())
        raise AssertionError("unreachable")


def conform(data: pa.Table, dataset: Dataset, name: str) -> pa.Table:
    """Select and cast `data` to the dataset's declared columns, naming any that is missing."""
    missing = [c.name for c in dataset.columns if c.name not in data.column_names]
    if missing:
        raise LakeError(f"{name}: result lacks declared columns {missing}")
    extra = [c for c in data.column_names if c not in {col.name for col in dataset.columns}]
    if extra:
        raise LakeError(f"{name}: result has undeclared columns {extra}")
    try:
        return data.select([c.name for c in dataset.columns]).cast(arrow_schema(dataset.columns))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise LakeError(
            f"{name}: result does not match the declared column types: {error}"
        ) from None
