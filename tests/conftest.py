"""Shared fixtures. Integration and end-to-end tests use the real Kafka and PostgreSQL that
`make infra` (or `make up`) starts; they fail with a clear message when those are not running."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from backbone.settings import ServiceSettings

# The tests run development platforms (development keys under .data/keys); a service started
# without MINSHENG_ENVIRONMENT is production and refuses them. Tests of that refusal pass
# environment="production" explicitly.
os.environ["MINSHENG_ENVIRONMENT"] = "test"
from tests import janitor


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
    """A random suffix for a test's schemas and topics; removed at the end of the session
    (tests/janitor.py)."""
    return janitor.claim(uuid.uuid4().hex[:10])


@pytest.fixture(scope="session", autouse=True)
def _sweep_what_the_tests_made(request):
    """At the end of the run: delete every topic, consumer group, schema and database named
    with an id the tests claimed, so the shared broker and server do not fill up; and the
    harnesses' logs under .data, unless a test failed (then they are kept to be read)."""
    yield
    if janitor.claimed():
        gone = janitor.sweep()
        print(f"\n[janitor] removed {gone}")
    if request.session.testsfailed == 0:
        janitor.sweep_logs()
