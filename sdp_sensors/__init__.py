"""Sensors built from the specs: declarative automation now; stream and alert sensors later."""

from sdp_sensors.automation import automation_sensor

__all__ = ["automation_sensor"]
