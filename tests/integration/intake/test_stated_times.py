"""A stated time no ticket code can carry (before 2000, after 2099, past year 9999) is refused
with its reason on every way in, and leaves the event clock of a local platform (`make up`
runs on MINSHENG_CLOCK=event) where it was: once, `"occurred_at": "9999-12-31T23:59:59Z"`
became intake's time, and every request after it, stated or not, failed with a 500 until
intake was restarted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.intake.settings import IntakeSettings
from tests import janitor
from tests.integration.intake.conftest import Intake, _free_port, running_intake
from tests.integration.intake.samples import sample
from tests.integration.intake.test_bus import replies_for, to_request

pytestmark = pytest.mark.integration

BEIJING = ZoneInfo("Asia/Shanghai")
IMPOSSIBLE = ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
              "2126-11-06T09:00:00+08:00", "1999-12-31T23:59:59+08:00"]


@pytest.fixture(scope="module")
async def intake_on_event_time(infra) -> AsyncIterator[Intake]:
    unique = janitor.claim(uuid.uuid4().hex[:10])
    settings = IntakeSettings(
        environment="test", clock="event", http_port=_free_port(), pg_dbname="intake_it",
        pg_schema=f"it_ev_{unique}", topic_prefix=f"itev{unique}.", relay_interval_ms=20)
    async with running_intake(settings) as here:
        yield here


def _day_of(code: str) -> str:
    return code.split("-")[1]


async def test_impossible_stated_times_are_refused_and_the_clock_stays(intake_on_event_time):
    intake = intake_on_event_time
    async with intake.client() as http:
        for stated in IMPOSSIBLE:
            response = await http.post("/v1/requests",
                                       json={**sample("web"), "occurred_at": stated})
            assert response.status_code == 422, (stated, response.text)
            assert "occurred_at" in response.text and "2099" in response.text
        # the bus: a time outside 2000-2099, and a Timestamp no datetime can hold
        token = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
        far = to_request(sample("web"), token)
        far.occurred_at.FromDatetime(datetime(9999, 12, 31, 23, tzinfo=UTC))
        broken = to_request(sample("web"), token)
        broken.occurred_at.CopyFrom(Timestamp(seconds=10**12))
        for r in (far, broken):
            await intake.publish("intake.requests", r.request_id, r.SerializeToString())
        replies = {r.request_id: r for r in await replies_for(
            intake, {far.request_id, broken.request_id})}
        for r in replies.values():
            assert r.status == "refused" and r.reason_code == "bad_time" and not r.code, r
        # and the requests after them are dated as before: today (no time stated yet), then
        # the time a request states, then that time for one that states none
        plain = await http.post("/v1/requests", json=sample("web"))
        assert plain.status_code == 201, plain.text
        assert _day_of(plain.json()["code"]) == f"{datetime.now(BEIJING):%y%m%d}"
        yesterday = datetime.now(BEIJING) - timedelta(days=1)
        stated = await http.post("/v1/requests", json={**sample("web"),
                                                       "occurred_at": yesterday.isoformat()})
        assert stated.status_code == 201 and _day_of(stated.json()["code"]) \
            == f"{yesterday:%y%m%d}"
        after = await http.post("/v1/requests", json=sample("web"))
        assert after.status_code == 201, after.text


async def test_on_the_wall_clock_too(intake):
    async with intake.client() as http:
        for stated in IMPOSSIBLE:
            response = await http.post("/v1/requests",
                                       json={**sample("web"), "occurred_at": stated})
            assert response.status_code == 422, (stated, response.text)
            assert "occurred_at" in response.text
