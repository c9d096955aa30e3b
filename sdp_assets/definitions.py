"""The code location's entry point (named in workspace.yaml and pyproject's [tool.dagster]).

It discovers every domain package under sdp_assets/, builds their datasets with platform policy,
and binds the resources of the current environment and the platform's sensors. The `sdp` CLI
loads this module too and reads the specs through `domains()`.
"""

import functools

import dagster as dg

import sdp_assets
from sdp.assemble import assemble
from sdp.catalog import DatasetIndex
from sdp.discovery import discover_domains
from sdp.spec import Domain
from sdp_resources import environments
from sdp_sensors import (
    automation_sensor,
    build_maintenance_job,
    maintenance_schedule,
    recompute_schedules,
    stream_sensors,
)


@functools.cache
def domains() -> tuple[Domain, ...]:
    return tuple(discover_domains(sdp_assets))


@dg.definitions
def defs() -> dg.Definitions:
    environment = environments.current()
    index = DatasetIndex(domains())
    platform = assemble(index, environment.warehouse, environment.dbt_project, environment.engine)
    recompute_jobs, schedules = recompute_schedules(index)
    maintenance = build_maintenance_job(index)
    return dg.Definitions.merge(
        platform,
        dg.Definitions(
            resources=environment.resources,
            jobs=[*recompute_jobs, maintenance],
            schedules=[*schedules, maintenance_schedule(maintenance)],
            sensors=[automation_sensor, *stream_sensors(index)],
        ),
    )
