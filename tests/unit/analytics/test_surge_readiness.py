"""The surge worker's /readyz says whether what it needs answers, as the services' /readyz
do (backbone/http.py): it looked at faust's rebalancing state only, and said ready while its
Kafka did not answer (the worker then counts and alerts nothing)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from services.analytics.entrypoints.surges import make_app
from services.analytics.settings import AnalyticsSettings


def _readyz(tmp_path, **options) -> tuple[int, dict]:
    app = make_app(AnalyticsSettings(environment="test", surges_datadir=str(tmp_path),
                                     **options))

    async def ask() -> tuple[int, dict]:
        async with TestClient(TestServer(app.web.web_app)) as client:
            answer = await client.get("/readyz")
            return answer.status, await answer.json()

    return asyncio.run(ask())


def test_not_ready_when_kafka_does_not_answer(tmp_path) -> None:
    status, body = _readyz(tmp_path, kafka_bootstrap="127.0.0.1:1")  # nothing listens there
    assert status == 503 and body["ready"] is False
    assert "kafka_ready" in body["checks"] and "kafka ok" not in body["checks"]["kafka_ready"]
    assert "consumer" in body["checks"]
