"""Intake's public citizen sign-in (ask for an SMS code, trade it for a token) is limited per
client address across replicas (two intake instances on one schema): 429 with Retry-After,
never a 5xx; the per-phone limit is tested in test_sms.py."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.intake.settings import IntakeSettings
from tests import janitor
from tests.integration.intake.conftest import _free_port, running_intake

pytestmark = [pytest.mark.integration]


async def test_a_burst_of_sign_ins_from_one_address_is_limited_on_both_replicas(infra):
    unique = janitor.claim(uuid.uuid4().hex[:10])

    def settings() -> IntakeSettings:
        return IntakeSettings(
            environment="test", http_port=_free_port(), pg_dbname="intake_it",
            pg_schema=f"it_rl_{unique}", topic_prefix=f"itrl{unique}.",
            citizen_sign_ins_per_minute=4)

    async with running_intake(settings()) as one, running_intake(settings()) as two, \
            httpx.AsyncClient(base_url=one.url, timeout=30) as a, \
            httpx.AsyncClient(base_url=two.url, timeout=30) as b:
        # a different phone each time: only the address ties them together
        answers = await asyncio.gather(*[
            (a, b)[i % 2].post("/v1/citizens/verification",
                               json={"phone": f"139{uuid.uuid4().int % 10**8:08d}"})
            for i in range(8)])
        statuses = sorted(r.status_code for r in answers)
        assert statuses[:4] == [202] * 4 and statuses[5:] == [429] * 3, statuses
        assert statuses[4] in (202, 429), statuses  # a token may drip back during the burst
        limited = next(r for r in answers if r.status_code == 429)
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        guess = await b.post("/v1/citizens/session", json={"phone": "13900000000",
                                                           "code": "123456"})
        assert guess.status_code == 429  # trading codes draws from the same bucket
