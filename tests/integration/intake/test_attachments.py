"""Attachments encrypted at rest under the citizen's key, read only by who holds the ticket,
and crypto-shredded with the citizen (410 with the reason)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from psycopg.sql import SQL, Identifier

from backbone import auth
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.domain.citizen import pseudonym_for_phone
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + uuid.uuid4().bytes + b"\x00" * 16


def _bearer(intake, role: str, *, unit: str = "", sub: str = "", ticket: str = "") -> dict:
    token = auth.mint(intake.settings, sub=sub or f"{role}-{uuid.uuid4().hex[:6]}", role=role,
                      unit=unit, ticket=ticket)
    return {"authorization": f"Bearer {token}"}


def _stored_bytes(intake) -> list[bytes]:
    s = Identifier(intake.settings.schema)
    with intake.service.infra.pool.connection() as conn:
        rows = conn.execute(SQL("SELECT ciphertext FROM {}.attachment_uploads"
                                " WHERE ciphertext IS NOT NULL UNION ALL"
                                " SELECT ciphertext FROM {}.attachment_copies").format(s, s))
        return [bytes(r[0]) for r in rows.fetchall()]


def _assign(intake, ticket_id: str, unit: str) -> None:
    statement = TicketIndex(intake.service.infra.pool, intake.settings.schema).upsert(
        ticket_id, unit=unit)
    with intake.service.infra.pool.connection() as conn:
        conn.execute(statement.sql, statement.params)


async def test_only_the_ticket_holders_read_a_photo_and_erasure_shreds_it(intake):
    png = _png()
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    async with intake.client() as adapter:
        ref = (await adapter.post("/v1/attachments", files={"file": ("p.png", png)})).json()
        answer = (await adapter.post("/v1/requests", json={
            "channel": "wechat_mini", "request_id": uuid.uuid4().hex,
            "text": "小区门口路灯坏了一周，晚上很黑", "location": {"lat": 32.93, "lon": 115.77},
            "contact": {"phone": phone},
            "pictures": [{"sha256": ref["sha256"], "kind": "image"}]})).json()
    assert answer["status"] == "accepted", answer
    assert all(png not in blob and png[16:32] not in blob for blob in _stored_bytes(intake))
    code, path = answer["code"], f"/v1/attachments/{ref['sha256']}"
    _assign(intake, answer["ticket_id"], "yingzhou")
    citizen = pseudonym_for_phone(intake.settings.pseudonym_pepper.encode(), phone)
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as http:
        async def status(**who) -> int:
            return (await http.get(path, headers=_bearer(intake, **who))).status_code

        for who in ({"role": "dispatcher"}, {"role": "supervisor"},
                    {"role": "unit", "unit": "yingzhou"},
                    {"role": "citizen", "sub": citizen},
                    {"role": "citizen", "sub": "link", "ticket": code}):
            got = await http.get(path, headers=_bearer(intake, **who))
            assert got.status_code == 200 and got.content == png, (who, got.status_code)
            assert got.headers["content-type"] == "image/png"
        assert await status(role="unit", unit="tanghe") == 403  # another unit
        assert await status(role="auditor") == 403
        assert await status(role="channel_adapter") == 403
        assert await status(role="citizen", sub="someone-else") == 403
        denied = await http.get(path, headers=_bearer(intake, "citizen", sub=citizen,
                                                      ticket="FY-20260101-0000"))
        assert denied.status_code == 403 and "hold" in denied.json()["detail"]
        assert (await http.get("/v1/attachments/" + "b" * 64, headers=_bearer(
            intake, "dispatcher"))).status_code == 404

        erased = await http.post("/v1/citizens/erasure", json={"ticket_code": code},
                                 headers=_bearer(intake, "supervisor"))
        assert erased.status_code == 200, erased.text
        gone = await http.get(path, headers=_bearer(intake, "dispatcher"))
    assert gone.status_code == 410 and "erased" in gone.json()["detail"], gone.text
    s = Identifier(intake.settings.schema)
    with intake.service.infra.pool.connection() as conn:
        left = conn.execute(SQL("SELECT count(*) FROM {}.attachment_copies WHERE sha256 = %s")
                            .format(s), (ref["sha256"],)).fetchone()[0]
        upload = conn.execute(SQL("SELECT ciphertext, key_ct FROM {}.attachment_uploads"
                                  " WHERE sha256 = %s").format(s), (ref["sha256"],)).fetchone()
    assert left == 0 and upload == (None, None)


async def test_an_anonymous_ticket_keeps_its_photo_under_its_own_key(intake):
    png = _png()
    async with intake.client() as adapter:
        ref = (await adapter.post("/v1/attachments", files={"file": ("p.png", png)})).json()
        answer = (await adapter.post("/v1/requests", json={
            "channel": "web", "request_id": uuid.uuid4().hex, "title": "井盖缺失",
            "body": "清河路井盖缺失很危险，请尽快处理", "location": {"lat": 32.86, "lon": 115.86},
            "attachments": [{"sha256": ref["sha256"], "kind": "image"}]})).json()
    assert answer["status"] == "accepted", answer
    s = Identifier(intake.settings.schema)
    with intake.service.infra.pool.connection() as conn:
        owners = [r[0] for r in conn.execute(SQL("SELECT owner FROM {}.attachment_copies"
                                                 " WHERE sha256 = %s").format(s),
                                             (ref["sha256"],)).fetchall()]
    assert owners == [f"ticket:{answer['ticket_id']}"]
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as http:
        got = await http.get(f"/v1/attachments/{ref['sha256']}",
                             headers=_bearer(intake, "dispatcher"))
    assert got.status_code == 200 and got.content == png


async def test_the_timer_shreds_upload_copies_past_their_retention_and_only_those(intake):
    import asyncio

    from services.intake.adapters.attachment_store import AttachmentStore
    from services.intake.application.attachments import Attachments
    from services.intake.entrypoints import upload_sweep

    async with intake.client() as adapter:
        old, fresh = [(await adapter.post("/v1/attachments", files={"file": ("p.png", _png())})
                       ).json()["sha256"] for _ in range(2)]
    s, pool = Identifier(intake.settings.schema), intake.service.infra.pool
    with pool.connection() as conn:
        conn.execute(SQL("UPDATE {}.attachment_uploads SET stored_at = now() - interval '2 days'"
                         " WHERE sha256 = %s").format(s), (old,))

    def pending() -> dict[str, bool]:
        with pool.connection() as conn:
            rows = conn.execute(SQL("SELECT sha256, ciphertext IS NOT NULL FROM"
                                    " {}.attachment_uploads WHERE sha256 = ANY(%s)").format(s),
                                ([old, fresh],)).fetchall()
        return dict(rows)

    assert pending() == {old: True, fresh: True}
    sweeping = Attachments(AttachmentStore(pool, intake.settings.schema), vault=None,  # type: ignore[arg-type]
                           retention_s=24 * 3600)
    stop = asyncio.Event()
    task = asyncio.create_task(upload_sweep.loop(sweeping, every_s=0.05)(stop))
    try:
        await eventually_async(lambda: not pending()[old], timeout=10, interval=0.05,
                               what="the sweep to shred the old upload copy")
    finally:
        stop.set()
        await task
    assert pending() == {old: False, fresh: True}


async def test_a_citizens_photos_are_copied_under_their_key_once_each_when_the_ticket_is_saved(
        intake):
    """The copies are made for every file of the ticket in one read and one write
    (Attachments.keep_for); a file the citizen already holds a copy of is not copied again."""
    pngs = [_png(), _png()]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    async with intake.client() as adapter:
        refs = [(await adapter.post("/v1/attachments", files={"file": ("p.png", p)})).json()
                for p in pngs]
        for carried in (refs, refs[1:]):  # the second ticket carries a photo already copied
            answer = await adapter.post("/v1/requests", json={
                "channel": "web", "request_id": uuid.uuid4().hex, "title": "路灯不亮",
                "body": "清河路路灯不亮好几天了，晚上很黑", "contact": {"phone": phone},
                "attachments": [{"sha256": r["sha256"], "kind": "image"} for r in carried]})
            assert answer.status_code == 201, answer.text
    s = Identifier(intake.settings.schema)
    with intake.service.infra.pool.connection() as conn:
        rows = conn.execute(SQL("SELECT sha256, owner FROM {}.attachment_copies"
                                " WHERE sha256 = ANY(%s)").format(s),
                            ([r["sha256"] for r in refs],)).fetchall()
    owner = pseudonym_for_phone(intake.settings.pseudonym_pepper.encode(), phone)
    assert sorted(rows) == sorted((r["sha256"], owner) for r in refs)
