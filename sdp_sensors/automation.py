"""Evaluates the datasets' automation conditions (eager re-materialization of derived data)."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "default_automation_condition_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    # Every 10 s rather than 30 s: downstream hours follow landings within the freshness target.
    minimum_interval_seconds=10,
)
