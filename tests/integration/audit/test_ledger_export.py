"""Audit's bulk export (`GET /v1/ledger/export`) on the real Kafka and PostgreSQL: the same
entries as the JSON pages, the same access rule, recorded in the access log; and an analytics
rebuild from it equals the fold of what was published."""

from __future__ import annotations

import base64

import httpx
import pytest

from backbone import auth
from services.analytics.adapters.ledger import LedgerError, ledger_export
from services.analytics.application.rebuild import fold_entries, fold_envelopes
from tests.integration.audit.conftest import eventually, ledger_entries
from tests.integration.audit.lifecycle import new_ticket, ticket_lifecycle

pytestmark = pytest.mark.integration

TICKETS = 5


@pytest.fixture(scope="module")
async def published(audit, producer):
    lifecycles = [ticket_lifecycle(*new_ticket()) for _ in range(TICKETS)]
    envs = [env for step in range(10) for env in (lc[step] for lc in lifecycles)]
    for env in envs:
        await producer.send_and_wait(audit.settings.lifecycle_topic, env.SerializeToString(),
                                     key=env.ticket_id.encode())
    eventually(lambda: len(ledger_entries(audit, page=9)) >= len(envs), what="the ledger to fill")
    return envs


def export(audit, **kw) -> list[tuple[str, bytes]]:
    token = auth.mint(audit.settings, sub="auditor-export", role="auditor")
    return list(ledger_export(audit.url, token, read_bytes=1000, **kw))


def test_the_export_is_the_ledger_in_order_with_the_stored_bytes(audit, published):
    entries = ledger_entries(audit, page=9)
    assert export(audit) == [(e["event_type"], base64.b64decode(e["raw"])) for e in entries]
    assert export(audit, after=7, limit=11) == [
        (e["event_type"], base64.b64decode(e["raw"])) for e in entries[7:18]]
    assert export(audit, after=len(entries)) == []


def test_the_stream_ends_with_the_cursor_to_continue_from(audit, published):
    token = auth.mint(audit.settings, sub="auditor-export", role="auditor")
    body = httpx.get(audit.url + "/v1/ledger/export", params={"after": 3, "limit": 4},
                     headers={"authorization": f"Bearer {token}"}).content
    assert body[-14:] == (7).to_bytes(8, "big") + bytes(6)


def test_only_auditors_export_and_every_export_is_recorded(audit, published):
    with audit.client(role="supervisor") as c:
        assert c.get("/v1/ledger/export").status_code == 403
    assert httpx.get(audit.url + "/v1/ledger/export").status_code == 401
    with audit.client() as c:
        bad = c.get("/v1/ledger/export", params={"after": -1})
        assert bad.status_code == 422 and bad.json()["detail"]
        assert c.get("/v1/ledger/export", params={"limit": 0}).status_code == 422
    with pytest.raises(LedgerError, match="403"):
        list(ledger_export(audit.url, auth.mint(audit.settings, sub="s", role="supervisor")))
    export(audit, after=2, limit=5)
    with audit.client() as c:
        reads = c.get("/v1/access-log", params={"limit": 1000}).json()["reads"]
    assert ("auditor-export", "auditor", "export", "ledger[2:+5]", "http") in {
        (r["sub"], r["role"], r["action"], r["target"], r["via"]) for r in reads}


def test_a_rebuild_from_the_export_equals_the_fold_of_what_was_published(audit, published):
    from_export = fold_entries(export(audit))
    expected = fold_envelopes([env.SerializeToString() for env in published])
    assert from_export.envelopes == len(published) and from_export.skipped == 0
    assert from_export.facts == expected.facts > 0
    assert from_export.digest == expected.digest


def test_a_filtered_export_sends_the_types_asked_of_the_positions_covered(audit, published):
    entries = [(e["event_type"], base64.b64decode(e["raw"])) for e in ledger_entries(audit, page=9)]
    kinds = sorted({t for t, _ in entries})
    some = [*kinds[::2], "NoSuchEvent"]
    token = auth.mint(audit.settings, sub="auditor-export", role="auditor")
    for after, limit in ((0, None), (0, 1), (7, 11), (3, 1000), (len(entries), None)):
        source = ledger_export(audit.url, token, after=after, limit=limit, types=some,
                               read_bytes=1000)
        got = list(source)
        covered = entries[after:after + limit] if limit else entries[after:]
        assert got == [(t, e) for t, e in covered if t in some]
        assert source.positions == len(covered)  # `limit` counts positions, sent or not
    with audit.client() as c:
        assert c.get("/v1/ledger/export", params={"types": "Ticket Accepted"}).status_code == 422
    with audit.client(role="supervisor") as c:
        assert c.get("/v1/ledger/export", params={"types": kinds[0]}).status_code == 403
    with audit.client() as c:
        reads = c.get("/v1/access-log", params={"limit": 1000}).json()["reads"]
    assert f"ledger[7:+11] types={','.join(sorted(some))}" in {r["target"] for r in reads}


def test_a_rebuild_from_the_filtered_export_equals_the_fold_of_what_was_published(
        audit, published):
    from services.analytics.application.rebuild import COUNTED_TYPES
    token = auth.mint(audit.settings, sub="auditor-export", role="auditor")
    whole = len(ledger_entries(audit, page=9))
    source = ledger_export(audit.url, token, types=COUNTED_TYPES, read_bytes=1000)
    from_export = fold_entries(source)
    expected = fold_envelopes([env.SerializeToString() for env in published])
    assert from_export.envelopes == whole and from_export.skipped == 0
    assert from_export.facts == expected.facts > 0
    assert from_export.digest == expected.digest
