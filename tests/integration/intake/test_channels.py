"""Every channel end to end through Kafka: HTTP in -> TicketSubmitted + TicketAccepted out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.entrypoints.examples import CHANNEL_EXAMPLES
from tests.integration.intake.samples import CHANNELS, sample

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("channel", CHANNELS)
async def test_each_channel_becomes_one_ticket_on_the_lifecycle_topic(intake, channel):
    stated = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    payload = {**sample(channel), "occurred_at": stated.isoformat()}
    async with intake.client() as http:
        first = await http.post("/v1/requests", json=payload)
        assert first.status_code == 201, first.text
        retry = await http.post("/v1/requests", json=payload)
    body = first.json()
    assert retry.status_code == 200 and retry.json()["code"] == body["code"]
    assert retry.json()["replayed"] is True
    found = await intake.events_of(body["ticket_id"], {"TicketSubmitted", "TicketAccepted"})
    kinds = [d.event_type for d in found]
    assert kinds.count("TicketSubmitted") == 1  # the retry made no second ticket
    submitted = next(d for d in found if d.event_type == "TicketSubmitted")
    assert submitted.envelope.ticket_code == body["code"]
    assert submitted.payload.channel == channel
    assert submitted.envelope.producer == "intake"
    assert submitted.occurred_at == stated  # the citizen's time, not the row's


async def test_a_rejected_request_keeps_its_code_and_history(intake):
    payload = {"channel": "web", "request_id": uuid.uuid4().hex, "title": "着火了",
               "body": "楼下着火了，浓烟很大，快来人"}
    async with intake.client() as http:
        answer = (await http.post("/v1/requests", json=payload)).json()
        assert answer["status"] == "rejected"
        assert answer["rejection"]["reason_code"] == "emergency_redirect"
        looked_up = await http.get(f"/v1/tickets/{answer['code'].lower().replace('-', ' ')}")
    assert looked_up.status_code == 200 and looked_up.json()["status"] == "rejected"
    found = await intake.events_of(answer["ticket_id"], {"TicketSubmitted", "TicketRejected"})
    rejected = next(d for d in found if d.event_type == "TicketRejected")
    assert "119" in rejected.payload.reason_text


async def test_attachments_are_stored_once_and_travel_as_references(intake):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + uuid.uuid4().bytes + b"\x00" * 16
    async with intake.client() as http:
        first = await http.post("/v1/attachments", files={"file": ("x.txt", png, "text/plain")})
        again = await http.post("/v1/attachments", files={"file": ("y.png", png, "image/png")})
        assert first.status_code == 201 and again.status_code == 200  # one blob, by hash
        ref = first.json()
        assert ref["media_type"] == "image/png"  # from the content, not the file name
        payload = {**sample("wechat_mini"), "pictures": [{"sha256": ref["sha256"],
                                                          "kind": "image"}]}
        answer = (await http.post("/v1/requests", json=payload)).json()
        staff = intake.client("dispatcher")
        async with staff:
            blob = await staff.get(f"/v1/attachments/{ref['sha256']}")
    assert blob.content == png and blob.headers["content-type"] == "image/png"
    found = await intake.events_of(answer["ticket_id"], {"TicketSubmitted"})
    refs = next(d for d in found if d.event_type == "TicketSubmitted").payload.attachments
    assert [(r.sha256, r.media_type, r.size) for r in refs] == [(ref["sha256"], "image/png",
                                                                  len(png))]


async def test_a_citizen_who_floods_is_told_when_to_come_back(intake):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    async with intake.client() as http:
        statuses = []
        for i in range(7):
            payload = {**sample("web"), "request_id": f"flood-{phone}-{i}",
                       "contact": {"phone": phone}}
            response = await http.post("/v1/requests", json=payload)
            statuses.append(response.status_code)
    assert statuses[:5] == [201] * 5
    assert statuses[5] == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "rate_limited"


async def test_a_citizens_requests_at_one_moment_share_one_burst(intake):
    """Requests of one citizen read together (adapters/submission_reads.py batches them) still
    take one token each: five of eight get a ticket, each request one code."""
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    async with intake.client() as http:
        answers = await asyncio.gather(*(http.post("/v1/requests", json={
            **sample("web"), "request_id": f"burst-{phone}-{i}", "contact": {"phone": phone}})
            for i in range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 5 + [429] * 3, statuses
    codes = {r.json()["code"] for r in answers if r.status_code == 201}
    assert len(codes) == 5


async def test_a_submission_after_the_read_connection_was_lost_gets_a_ticket(intake):
    """The submissions' own read connection (adapters/submission_reads.py) killed under it: a
    request meanwhile is told to retry (503, nothing acknowledged), the retry gets its ticket."""
    import psycopg

    from services.intake.adapters.submission_reads import APPLICATION_NAME

    phone = f"135{uuid.uuid4().int % 10**8:08d}"
    async with intake.client() as http:
        first = await http.post("/v1/requests", json={**sample("web"), "contact": {"phone": phone}})
        assert first.status_code == 201, first.text
        with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
                " application_name = %s AND query LIKE %s",
                (APPLICATION_NAME, f'%"{intake.settings.schema}"%')).fetchall()
        assert killed, "the read connection was not found"
        payload = {**sample("web"), "contact": {"phone": phone}}
        statuses = []
        for _ in range(3):
            answer = await http.post("/v1/requests", json=payload)
            statuses.append(answer.status_code)
            if answer.status_code == 201:
                break
            assert answer.status_code == 503 and answer.headers["retry-after"], answer.text
    assert statuses[-1] == 201, statuses


async def test_the_lean_path_is_traced_and_measured_as_the_route_is(intake):
    """POST /v1/requests is served in front of FastAPI's stack (entrypoints/fast_submit.py),
    inside the backbone's tracing and metrics: the caller's trace id comes back, and the
    request counts under its route."""
    trace = uuid.uuid4().hex
    count = 'minsheng_http_requests_total{route="/v1/requests",service="intake",status="201"}'

    async def counted(http) -> float:
        text = (await http.get("/metrics")).text
        return next((float(line.rpartition(" ")[2]) for line in text.splitlines()
                     if line.startswith(count)), 0.0)

    async with intake.client() as http:
        before = await counted(http)
        answer = await http.post("/v1/requests", json=sample("web"),
                                 headers={"traceparent": f"00-{trace}-{'1' * 16}-01"})
        assert answer.status_code == 201, answer.text
        assert trace in answer.headers["traceparent"]
        assert await counted(http) == before + 1


@pytest.mark.parametrize("channel", sorted(CHANNEL_EXAMPLES))
async def test_the_examples_on_the_openapi_page_are_accepted_as_they_stand(intake, channel):
    # "Try it out" on /docs: the WeChat example named a picture never uploaded (422) and a
    # fixed day in 2025 (400 on the wall clock: more than 7 days ago)
    async with intake.client() as http:
        answer = await http.post("/v1/requests", json=CHANNEL_EXAMPLES[channel]["value"])
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["code"].startswith("FY-")


async def test_the_openapi_page_lists_what_a_submission_may_answer(intake):
    async with intake.client(None) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert {"200", "201", "400", "413", "422", "429"} <= set(
        paths["/v1/requests"]["post"]["responses"])
    assert "201" in paths["/open311/v2/requests.{fmt}"]["post"]["responses"]  # not 200
