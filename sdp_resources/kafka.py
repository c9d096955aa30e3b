"""The Kafka resource: where the brokers are, and how to authenticate to them."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar


class KafkaResource(ConfigurableResource):
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    def client_config(self) -> dict[str, str]:
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = _resolved(self.sasl_username)
            config["sasl.password"] = _resolved(self.sasl_password)
        return config


def _resolved(value) -> str:
    # Outside a run (the intake, scripts) EnvVar fields are not resolved yet.
    return (value.get_value() if isinstance(value, EnvVar) else value) or ""
