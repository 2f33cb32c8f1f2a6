"""Shared fixtures. Integration and end-to-end tests use the real Kafka and PostgreSQL that
`make infra` (or `make up`) starts; they fail with a clear message when those are not running."""

from __future__ import annotations

import socket
import uuid

import pytest

from backbone.settings import ServiceSettings


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def infra() -> ServiceSettings:
    settings = ServiceSettings()
    for what, port in (("Kafka", int(settings.kafka_bootstrap.rsplit(":", 1)[1])),
                       ("PostgreSQL", settings.pg_port)):
        if not _listening(port):
            pytest.fail(f"{what} is not listening on 127.0.0.1:{port}: run `make infra` first")
    return settings


@pytest.fixture
def unique() -> str:
    """A random suffix: tests use fresh schemas and topics instead of cleaning up."""
    return uuid.uuid4().hex[:10]
