"""librdkafka settings for driftline's clients, and a view of them safe to log."""

from __future__ import annotations

from typing import Any

from driftline.flows.config import KafkaConfig

_SECRET_KEYS = ("password", "secret", "token", "key.pem", "jaas")


def client_config(cfg: KafkaConfig, role: str = "") -> dict[str, str]:
    """librdkafka settings for a client (`role` "consumer" or "producer" adds its own).

    The SASL password comes from a secret, never from a settings table.
    """
    conf = dict(cfg.settings)
    if role == "consumer":
        conf.update(cfg.consumer_settings)
    elif role == "producer":
        conf.update(cfg.producer_settings)
    if cfg.sasl_password is not None:
        conf["sasl.password"] = cfg.sasl_password.get_secret_value()
    return conf


def redacted(conf: dict[str, Any]) -> dict[str, Any]:
    """`conf` safe to log: values of secret-looking keys hidden."""
    return {k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in conf.items()}
