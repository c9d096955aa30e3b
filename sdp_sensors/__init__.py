"""Sensors and schedules built from the specs: stream landing, declarative automation, recompute."""

from sdp_sensors.automation import automation_sensor
from sdp_sensors.recompute import recompute_schedules
from sdp_sensors.streams import stream_sensors

__all__ = ["automation_sensor", "recompute_schedules", "stream_sensors"]
