"""A channel adapter that sends a request again (a timeout, a second replica) gets the first
answer again, whatever it does meanwhile, and breaks nobody else's submission."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from tests.integration.intake.samples import sample

pytestmark = pytest.mark.integration


async def test_a_replay_does_not_break_the_submissions_after_it(intake):
    # each replay answered as the first (not 429 once the citizen's 5 were spent), and no
    # other request hurt by it. (On `make up`'s platform a replay's failed save once left its
    # pooled connection believing in a prepared statement the server had skipped, and later
    # saves on it, anyone's, failed 500 "prepared statement "_pg3_2" does not exist"; this
    # in-process service has not shown that: see backbone/store.py's _insert_in_one_round)
    async with intake.client() as http:
        first = sample("web")
        made = await http.post("/v1/requests", json=first)
        assert made.status_code == 201, made.text
        seen: Counter[int] = Counter()
        for _ in range(15):
            again = await http.post("/v1/requests", json=first)
            assert again.status_code == 200 and again.json()["code"] == made.json()["code"], \
                again.text
            other = await http.post("/v1/requests", json=sample("web"))
            seen[other.status_code] += 1
        assert seen == Counter({201: 15})


async def test_copies_sent_at_once_get_one_ticket(intake):
    async with intake.client() as http:
        one = {**sample("web"), "anonymous": True}  # (one citizen may send only 5 at once)
        answers = await asyncio.gather(*[http.post("/v1/requests", json=one) for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], [a.text for a in answers]
    assert len({a.json()["code"] for a in answers}) == 1


async def test_replays_are_not_counted_against_the_citizen(intake):
    # one citizen may send 5 in a burst: the adapter's retries of the one request they sent
    # are that request again, answered as before, not 429 "too many from this citizen"
    async with intake.client(sub=f"retry-{uuid.uuid4().hex[:6]}") as http:
        one = sample("wechat_mini")
        answers = [await http.post("/v1/requests", json=one) for _ in range(8)]
    assert [a.status_code for a in answers] == [201] + [200] * 7, [a.text for a in answers]


async def test_retries_give_the_citizen_their_tokens_back(intake):
    # one citizen may send 5 in a burst. An adapter's retries of one request (one after
    # another, then four at once) make nothing, so they leave the 5 as they were: the
    # citizen's own next requests are accepted. (Each retry took a token before its save
    # found the key: after 4 retries the citizen's next request was 429 for 2 minutes.)
    phone = f"137{uuid.uuid4().int % 100_000_000:08d}"

    def mine() -> dict[str, object]:
        return {**sample("web"), "contact": {"phone": phone}}

    async with intake.client(sub=f"retry-{uuid.uuid4().hex[:6]}") as http:
        first = mine()
        made = await http.post("/v1/requests", json=first)
        assert made.status_code == 201, made.text
        again = [await http.post("/v1/requests", json=first) for _ in range(4)]
        at_once = await asyncio.gather(*[http.post("/v1/requests", json=first)
                                         for _ in range(4)])
        assert {(a.status_code, a.json()["code"]) for a in [*again, *at_once]} == {
            (200, made.json()["code"])}, [a.text for a in [*again, *at_once]]
        others = [await http.post("/v1/requests", json=mine()) for _ in range(4)]
    assert [o.status_code for o in others] == [201] * 4, [o.text for o in others]
