"""Quality checks evaluated on a materialized partition: schema contract, SQL, Great Expectations.

Each function returns an `Outcome`; the builder turns it into a Dagster AssetCheckResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sdp.engine import run_sql
from sdp.events import ARROW_TYPES
from sdp.spec import Dataset, ExpectationSuite, SqlCheck

CONTRACT_CHECK = "schema_contract"
SAMPLE_ROWS = 5


@dataclass
class Outcome:
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def check_contract(dataset: Dataset, stored: pa.Schema, data: pa.Table) -> Outcome:
    """The stored table has the declared columns and types; required columns hold no null."""
    problems = []
    for column in dataset.columns:
        if column.name not in stored.names:
            problems.append(f"column {column.name} missing from the table")
            continue
        actual = stored.field(column.name).type
        expected = ARROW_TYPES[column.type]
        # The lake may hand strings back as large_string; both are the declared string type.
        if actual != expected and not (
            column.type == "string" and pa.types.is_large_string(actual)
        ):
            problems.append(f"column {column.name} is {actual}, declared {column.type}")
        elif not column.nullable and data[column.name].null_count:
            problems.append(f"column {column.name} has {data[column.name].null_count} nulls")
    undeclared = sorted(set(stored.names) - {c.name for c in dataset.columns})
    if undeclared:
        problems.append(f"undeclared columns {undeclared}")
    return Outcome(not problems, {"problems": problems, "columns_checked": len(dataset.columns)})


def run_sql_check(check: SqlCheck, data: pa.Table, where: str) -> Outcome:
    """The check's SQL selects offending rows of the table `dataset`; none means it passed."""
    offending = run_sql(check.sql, {"dataset": data}, where=f"{where} check {check.name}")
    metadata: dict[str, Any] = {"offending_rows": offending.num_rows, "rows_checked": data.num_rows}
    if offending.num_rows:
        metadata["sample"] = str(offending.slice(0, SAMPLE_ROWS).to_pylist())
    return Outcome(offending.num_rows == 0, metadata)


def run_expectation_suite(suite: ExpectationSuite, data: pa.Table, where: str) -> Outcome:
    """Run a Great Expectations 1.x suite on the partition's rows in an ephemeral GX context."""
    import great_expectations as gx  # ~5 s to import: only when a suite actually runs

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name=f"{where}-source")
    asset = source.add_dataframe_asset(name=f"{where}-frame")
    batch = asset.add_batch_definition_whole_dataframe(f"{where}-batch")
    expectations = []
    for expectation in suite.expectations:
        cls = getattr(gx.expectations, expectation.type, None)
        if cls is None:
            raise ValueError(f"{where} suite {suite.name}: unknown expectation {expectation.type}")
        expectations.append(cls(**dict(expectation.kwargs)))
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{where}-{suite.name}", data=batch, suite=gx_suite)
    )
    frame = data.to_pandas(types_mapper=None)
    result = validation.run(batch_parameters={"dataframe": frame})
    failed = [
        f"{r.expectation_config.type} {dict(r.expectation_config.kwargs)}"
        for r in result.results
        if not r.success
    ]
    return Outcome(
        bool(result.success),
        {"expectations": len(expectations), "failed": failed, "rows_checked": data.num_rows},
    )
