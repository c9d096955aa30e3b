"""Sensors built from the specs: stream landing sensors and declarative automation."""

from sdp_sensors.automation import automation_sensor
from sdp_sensors.streams import stream_sensors

__all__ = ["automation_sensor", "stream_sensors"]
