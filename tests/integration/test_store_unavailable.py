"""PostgreSQL out of reach is a 503 with Retry-After, never a 500: nothing was acknowledged, so
a caller retries with its idempotency key (seen in the fault suite: intake and feedback answered
500 while PostgreSQL restarted)."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool, PoolTimeout

from backbone.http import create_app
from backbone.settings import ServiceSettings

pytestmark = pytest.mark.integration


def _raise(exc: Exception):
    def route() -> None:
        raise exc
    return route


@pytest.mark.parametrize("exc", [
    psycopg.OperationalError("server closed the connection unexpectedly"),
    PoolTimeout("couldn't get a connection after 30.00 sec"),
    StoreOperationalError("terminating connection due to administrator command"),
])
def test_a_store_outage_is_a_503_with_retry_after(infra, exc):
    settings = ServiceSettings(environment="development", service="probe",
                               token_revocation_check=False)
    app = create_app(settings=settings, title="probe", description="", readiness=[])
    app.get("/boom")(_raise(exc))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2" and r.json()["detail"]


def test_a_real_unreachable_pool_is_a_503(infra):
    settings = ServiceSettings(environment="development", service="probe",
                               token_revocation_check=False)
    app = create_app(settings=settings, title="probe", description="", readiness=[])
    pool = ConnectionPool("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=1",
                          min_size=0, max_size=1, open=True, timeout=1)

    @app.get("/read")
    def read() -> dict:
        with pool.connection() as conn:
            return {"one": conn.execute("SELECT 1").fetchone()[0]}

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.get("/read")
        assert r.status_code == 503, r.text
    finally:
        pool.close()
