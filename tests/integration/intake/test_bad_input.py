"""Bad input of every kind gets a 4xx with a reason, never a 500."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backbone import auth
from services.intake.settings import citizen_issuer
from tests.integration.intake.samples import sample

pytestmark = pytest.mark.integration


def _reason(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert body["error"] and body["detail"], body
    return str(body["detail"])


def _without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


@pytest.mark.parametrize("payload,words", [
    (_without(sample("hotline_12345"), "call_id"), "call_id"),
    (_without(sample("web"), "channel"), "channel"),
    ({**sample("web"), "channel": "fax"}, "fax"),
    ({**sample("web"), "title": 42}, "title"),
    ({**sample("web"), "location": {"lat": "north", "lon": 1}}, "lat"),
    ({**sample("web"), "location": {"lat": 91, "lon": 1}}, "lat"),
    ({**sample("web"), "body": "x" * 2001}, "body"),
    ({**sample("web"), "favourite_colour": "red"}, "favourite_colour"),
    ({**sample("wechat_mini"), "pictures": [{"sha256": "abc", "kind": "image"}]}, "sha256"),
    ({**sample("web"), "contact": {"phone": "call me maybe"}}, "phone"),
    ({**sample("web"), "occurred_at": "yesterday"}, "occurred_at"),
    ([1, 2, 3], "body"),
])
async def test_invalid_requests_are_refused_with_the_reason(intake, payload, words):
    async with intake.client() as http:
        response = await http.post("/v1/requests", json=payload)
    assert response.status_code == 422
    assert words in _reason(response)


async def test_impossible_times_and_unknown_attachments(intake):
    async with intake.client() as http:
        future = {**sample("web"), "occurred_at": (datetime.now(UTC) + timedelta(hours=1))
                  .isoformat()}
        naive = {**sample("web"), "occurred_at": "2025-11-27T09:30:00"}
        ghost = {**sample("web"), "attachments": [{"sha256": "a" * 64, "kind": "image"}]}
        assert "future" in _reason(await http.post("/v1/requests", json=future))
        assert "zone" in _reason(await http.post("/v1/requests", json=naive))
        response = await http.post("/v1/requests", json=ghost)
        assert response.status_code == 422 and "never uploaded" in _reason(response)


async def test_bodies_that_are_not_json_or_too_big(intake):
    async with intake.client() as http:
        broken = await http.post("/v1/requests", content=b'{"channel": "web",',
                                 headers={"content-type": "application/json"})
        assert broken.status_code == 422 and "JSON" in _reason(broken)
        huge = b'{"channel":"web","request_id":"h","title":"t","body":"' + b"a" * 70_000 + b'"}'
        declared = await http.post("/v1/requests", content=huge,
                                   headers={"content-type": "application/json"})
        assert declared.status_code == 413 and "bytes" in _reason(declared)

        async def chunks():
            for i in range(0, len(huge), 8192):
                yield huge[i : i + 8192]

        streamed = await http.post("/v1/requests", content=chunks(),
                                   headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and "bytes" in _reason(streamed)
        # declared or found while it streamed: the same code
        assert declared.json()["error"] == streamed.json()["error"] == "too_large"


async def test_an_attachment_over_the_platforms_usual_body_limit_reaches_its_route(intake):
    """Attachments may be up to MINSHENG_MAX_ATTACHMENT_BYTES (50 MB): one of 26 MB was
    refused at the door by the platform's 25 MB body limit, before its route could judge it."""
    async with intake.client() as http:
        big = b"not a picture " * (26 * 1024 * 1024 // 14)
        answer = await http.post("/v1/attachments", files={"file": ("big.jpg", big)})
        assert answer.status_code == 422 and "accepted types" in _reason(answer), answer.text


async def test_broken_multipart_and_unwelcome_files(intake):
    async with intake.client() as http:
        no_file = await http.post("/v1/attachments", files={"other": ("a", b"abc")})
        assert no_file.status_code == 422 and "file" in _reason(no_file)
        broken = await http.post("/v1/attachments", content=b"--xx\r\nContent-Disposition: form",
                                 headers={"content-type": "multipart/form-data; boundary=xx"})
        assert 400 <= broken.status_code < 500
        text = await http.post("/v1/attachments", files={"file": ("a.jpg", b"just text")})
        assert text.status_code == 422 and "accepted types" in _reason(text)
        empty = await http.post("/v1/attachments", files={"file": ("a.png", b"")})
        assert empty.status_code == 422 and "empty" in _reason(empty)


async def test_tokens_missing_forged_expired_or_of_the_wrong_role(intake):
    expired = auth.mint(intake.settings, sub="a", role="channel_adapter", now=0)
    forged = auth.Issuer("identity-dev", Ed25519PrivateKey.generate()).mint(
        sub="a", role="channel_adapter")
    legacy = "ms1.eyJyb2xlIjoiZGlzcGF0Y2hlciJ9.c2lnbmF0dXJl"
    for_sla = auth.mint(intake.settings, sub="a", role="channel_adapter", audience=["sla"])
    citizen_key = citizen_issuer(intake.settings)
    now = int(time.time())
    as_adapter = jwt.encode({"iss": "minsheng", "aud": ["intake"], "sub": "c", "iat": now,
                             "exp": now + 60, "jti": "j", "role": "channel_adapter"},
                            citizen_key.key, algorithm="EdDSA", headers={"kid": citizen_key.kid})
    async with httpx.AsyncClient(base_url=intake.url) as http:
        for headers, status, words in (
            ({}, 401, "missing"), ({"authorization": "Basic abc"}, 401, "Bearer"),
            ({"authorization": f"Bearer {forged}"}, 401, "signature"),
            ({"authorization": f"Bearer {expired}"}, 401, "expired"),
            ({"authorization": f"Bearer {legacy}"}, 401, "legacy ms1 token format"),
            ({"authorization": f"Bearer {for_sla}"}, 401, "not for this service"),
            ({"authorization": f"Bearer {as_adapter}"}, 401, "citizen tokens only"),
            ({"authorization": f"Bearer {intake.token('citizen')}"}, 403, "channel_adapter"),
        ):
            response = await http.post("/v1/requests", json=sample("web"), headers=headers)
            assert response.status_code == status and words in _reason(response)


async def test_mistyped_codes_and_merge_commands_that_do_not_fit(intake):
    async with intake.client("dispatcher") as staff:
        assert "check character" in _reason(await staff.get("/v1/tickets/FY-251127-00042-A"))
        assert "not a ticket code" in _reason(await staff.get("/v1/tickets/hello"))
        unknown = await staff.get("/v1/tickets/FY-200101-99999-2/case")
        assert unknown.status_code in (400, 404)
        async with intake.client() as adapter:
            made = (await adapter.post("/v1/requests", json=sample("web"))).json()
        lone = await staff.post(f"/v1/tickets/{made['code']}/merge/confirm")
        assert lone.status_code == 409 and "not merged" in _reason(lone)
        itself = await staff.post(f"/v1/tickets/{made['code']}/merge", json={"into": made["code"]})
        assert itself.status_code == 409
        no_reason = await staff.post(f"/v1/tickets/{made['code']}/merge/undo", json={})
        assert no_reason.status_code == 422 and "reason" in _reason(no_reason)


async def test_citizen_endpoints_refuse_bad_phones_codes_and_roles(intake):
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    async with httpx.AsyncClient(base_url=intake.url) as http:
        assert "mobile" in _reason(await http.post("/v1/citizens/verification",
                                                   json={"phone": "05582345678"}))
        await http.post("/v1/citizens/verification", json={"phone": phone})
        wrong = await http.post("/v1/citizens/session", json={"phone": phone, "code": "000000"})
        assert wrong.status_code == 401 and "code" in _reason(wrong)
        assert (await http.get("/v1/citizens/me/tickets")).status_code == 401
    async with intake.client("channel_adapter") as adapter:
        assert (await adapter.get("/v1/citizens/me/tickets")).status_code == 403
        assert (await adapter.post("/v1/citizens/erasure",
                                   json={"ticket_code": "FY-251127-00042-K"})).status_code == 403


async def test_a_channel_adapter_may_backfill_and_the_event_says_so(intake):
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    outage = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    async with intake.client() as http:
        now_ish = await http.post("/v1/requests", json={**sample("web"),
                                                        "occurred_at": recent.isoformat()})
        late = await http.post("/v1/requests", json={**sample("media_hotline"),
                                                     "occurred_at": outage.isoformat()})
    assert now_ish.status_code == late.status_code == 201, (now_ish.text, late.text)
    flags = {}
    for answer in (now_ish, late):
        found = await intake.events_of(answer.json()["ticket_id"], {"TicketAccepted"})
        [accepted] = [d for d in found if d.event_type == "TicketAccepted"]
        flags[answer.json()["code"]] = list(accepted.payload.flags)
    assert "backfilled" not in flags[now_ish.json()["code"]]
    assert "backfilled" in flags[late.json()["code"]]
