"""Assembles one code location from the domains: their assets and checks, with platform policy.

Policy is applied here once, not by each domain: every dataset gets the catalog attributes, the
schema-contract check and eager automation of derived datasets (sdp.builder, sdp.dbt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import Definitions

from sdp.builder import build_dataset_asset
from sdp.catalog import DatasetIndex
from sdp.consistency import build_consistency_check
from sdp.ingestion import build_landing_job, topic_spec
from sdp.spec import DbtModel, SpecError

if TYPE_CHECKING:
    from dagster_dbt import DbtProject


def assemble(
    index: DatasetIndex,
    warehouse: str,
    dbt_project: DbtProject | None = None,
    default_engine: str = "duckdb",
) -> Definitions:
    assets: list = [topic_spec(index, stream) for stream in index.streams.values()]
    asset_checks: list = []
    jobs = []
    for entry in index:
        if entry.dataset.source is not None:
            jobs.append(build_landing_job(index, entry))
        if isinstance(entry.dataset.transform, DbtModel):
            if dbt_project is None:
                raise SpecError(f"{entry.qualified_name}: built by dbt but no dbt project is set")
            from sdp.dbt import build_dbt_asset  # dagster-dbt only loads when a domain uses it

            model, contract = build_dbt_asset(index, entry, warehouse, dbt_project)
            assets.append(model)
            asset_checks.append(contract)
        else:
            assets.append(build_dataset_asset(index, entry, warehouse, default_engine))
            if entry.dataset.transform is not None:
                asset_checks.append(build_consistency_check(index, entry))
    return Definitions(assets=assets, asset_checks=asset_checks, jobs=jobs)
