"""Datasets built by dbt models (dbt-duckdb through dagster-dbt).

A dbt-built dataset gets the same catalog attributes as any other (owners, freshness, column
classification, location) from its spec; dbt's tests become its asset checks. Per partition, the
upstream rows of the window are staged into the serving DuckDB file, `dbt build` runs the model and
its tests for that window, and the model's rows are written to the dataset's lake partition.
"""

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MetadataValue,
    Output,
    asset_check,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from sdp import checks
from sdp.builder import (
    asset_attributes,
    commit_properties,
    incremental_condition,
    read_inputs,
)
from sdp.catalog import DatasetIndex, Entry
from sdp.platform import LAKEHOUSE, Lakehouse
from sdp.spec import DbtModel

DBT = "dbt"  # the resource key of the DbtCliResource
DBT_POOL = "dbt_duckdb"  # DuckDB allows one writer: dbt runs on the serving file are serialized


class SpecTranslator(DagsterDbtTranslator):
    """Gives dbt models that implement a dataset spec the spec's key and catalog attributes."""

    def __init__(self, index: DatasetIndex, warehouse: str):
        super().__init__()
        self.index = index
        self.warehouse = warehouse
        self.by_model = {
            e.dataset.transform.model: e for e in index if isinstance(e.dataset.transform, DbtModel)
        }

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any):
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id)
        if not node or node.get("resource_type") != "model" or node["name"] not in self.by_model:
            return spec
        entry = self.by_model[node["name"]]
        attributes = asset_attributes(self.index, entry, self.warehouse)
        return spec.replace_attributes(
            key=attributes["key"],
            description=attributes["description"],
            group_name=attributes["group_name"],
            owners=attributes["owners"],
            kinds=attributes["kinds"],
            tags={**spec.tags, **attributes["tags"]},
            freshness_policy=attributes["freshness_policy"],
            automation_condition=incremental_condition(),
        ).merge_attributes(metadata=attributes["metadata"])


def stage_inputs(path: Path, inputs: Mapping[str, Any], schemas: Mapping[str, str]) -> None:
    """Replace the staged copy of each upstream window in the serving DuckDB file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as connection:
        for name, table in inputs.items():
            schema = schemas[name]
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            connection.register("staged_input", table)
            connection.execute(
                f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM staged_input'
            )
            connection.unregister("staged_input")


def build_dbt_asset(
    index: DatasetIndex, entry: Entry, warehouse: str, project: DbtProject
) -> list[AssetsDefinition | AssetChecksDefinition]:
    """The dbt asset of one dataset, plus its schema-contract check on the lake partition."""
    model = entry.dataset.transform.model
    translator = SpecTranslator(index, warehouse)
    attributes = asset_attributes(index, entry, warehouse)
    partitions = attributes["partitions_def"]

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=model,
        name=f"{entry.domain.name}__{entry.dataset.name}",
        partitions_def=partitions,
        dagster_dbt_translator=translator,
        pool=DBT_POOL,
        backfill_policy=BackfillPolicy.single_run(),  # one dbt build over the whole range
        required_resource_keys={LAKEHOUSE, DBT},
    )
    def _model(context: AssetExecutionContext) -> Iterator[Any]:
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        dbt: DbtCliResource = getattr(context.resources, DBT)
        start, end = context.partition_time_window
        inputs = read_inputs(index, entry, lakehouse, start, end)
        domains = {index.get(r).dataset.name: r.domain for r in entry.dataset.upstream}
        serving = lakehouse.serving_duckdb_path()
        stage_inputs(serving, inputs, domains)
        window = {"start": start.isoformat(), "end": end.isoformat()}
        events = list(dbt.cli(["build", "--vars", json.dumps(window)], context=context).stream())
        column = entry.dataset.partitioning.time_column
        query = f'SELECT * FROM "{model}" WHERE "{column}" >= $start AND "{column}" < $end'
        with duckdb.connect(str(serving), read_only=True) as connection:
            data = connection.sql(query, params={"start": start, "end": end}).to_arrow_table()
        table = lakehouse.lake().replace_partition(
            entry.domain.name,
            entry.dataset,
            start,
            end,
            data,
            properties=commit_properties(context),
        )
        for event in events:
            if isinstance(event, Output):
                event = event.with_metadata(
                    {
                        **event.metadata,
                        "dagster/partition_row_count": data.num_rows,
                        "dagster/uri": MetadataValue.path(table.location()),
                        **{f"input_rows/{k}": v.num_rows for k, v in inputs.items()},
                    }
                )
            yield event

    @asset_check(
        asset=entry.key,
        name=checks.CONTRACT_CHECK,
        description="The stored table matches the declared columns and types.",
        required_resource_keys={LAKEHOUSE},
    )
    def _contract(context: AssetCheckExecutionContext) -> AssetCheckResult:
        # Not partitioned (partitioned checks are a preview API): checks the whole table.
        lakehouse: Lakehouse = getattr(context.resources, LAKEHOUSE)
        lake = lakehouse.lake()
        stored = lake.table(entry.domain.name, entry.dataset).schema().as_arrow()
        required = tuple(c.name for c in entry.dataset.columns if not c.nullable)
        data = lake.read(entry.domain.name, entry.dataset, columns=required or None)
        outcome = checks.check_contract(entry.dataset, stored, data)
        return AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    return [_model, _contract]
