"""Sensors and schedules built from the specs: stream landing, declarative automation, recompute."""

from sdp_sensors.automation import automation_sensor
from sdp_sensors.maintenance import build_maintenance_job, maintenance_schedule
from sdp_sensors.recompute import recompute_schedules
from sdp_sensors.streams import stream_sensors

__all__ = [
    "automation_sensor",
    "build_maintenance_job",
    "maintenance_schedule",
    "recompute_schedules",
    "stream_sensors",
]
