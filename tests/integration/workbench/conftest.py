"""The workbench in process: its read model in a schema of its own, its HTTP app driven through
ASGI, tokens minted with the development keys; events fed as the consumer would apply them."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import common_pb2
from minsheng.v1 import dispatch_events_pb2 as d
from minsheng.v1 import feedback_events_pb2 as f
from minsheng.v1 import intake_events_pb2 as i
from minsheng.v1 import sla_events_pb2 as s
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import auth, events
from backbone.http import create_app
from backbone.store import ensure_database
from services.workbench.adapters import upstream
from services.workbench.bootstrap import prepare_storage
from services.workbench.entrypoints import (
    consumer,
    http_desk,
    http_hotline,
    http_session,
    http_tickets,
    pages,
)
from services.workbench.entrypoints.deps import SessionAsBearer
from services.workbench.settings import WorkbenchSettings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
_seq = itertools.count(1)


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


class Feed:
    """Applies envelopes the way the consumer does: decoded, then the handler with a cursor."""

    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool, self.table = pool, consumer.handlers(schema).table

    def __call__(self, ticket_id: str, code: str, payload, at: datetime,
                 producer: str) -> None:
        env = events.make_envelope(payload=payload, event_id=str(uuid.uuid4()),
                                   ticket_id=ticket_id, ticket_code=code, producer=producer,
                                   occurred_at=at)
        decoded = events.decode(env.SerializeToString())
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            self.table[decoded.event_type](decoded, cur, None)

    def ticket(self, *, text: str, unit: str, county: str = "yingzhou",
               channel: str = "hotline_12345", at: datetime = T0, status: str = "assigned",
               address: str = "", overdue: bool = False, rating: str = "") -> str:
        n = next(_seq)
        code = f"FY-{at:%y%m%d}-{n:05d}-K"
        tid = str(uuid.uuid4())
        self(tid, code, i.TicketSubmitted(channel=channel, text_masked=text, title_masked=text[:8],
                                          place=common_pb2.Place(county=county,
                                                                 address_masked=address)),
             at, "intake")
        self(tid, code, i.TicketAccepted(), at, "intake")
        self(tid, code, d.TicketAssigned(unit=unit, role="lead", category="urban",
                                         urgency="general", county=county, assignment_no=1),
             at + timedelta(minutes=1), "dispatch")
        self(tid, code, s.DeadlineSet(due_at=ts(at + timedelta(days=5)), unit=unit),
             at + timedelta(minutes=2), "sla")
        if status == "signed_for":
            self(tid, code, d.AssignmentSignedFor(unit=unit), at + timedelta(minutes=3),
                 "dispatch")
        if overdue:
            self(tid, code, s.DeadlineMissed(unit=unit), at + timedelta(days=6), "sla")
        if rating:
            self(tid, code, f.TicketRated(rating=rating, unit=unit), at + timedelta(days=7),
                 "feedback")
        return code


class Workbench:
    def __init__(self, settings: WorkbenchSettings, pool: ConnectionPool):
        self.settings, self.pool = settings, pool
        self.feed = Feed(pool, settings.schema)
        knowledge, attachments = prepare_storage(pool, settings.schema, True)
        self.services = upstream.connect(settings)
        app = create_app(settings=settings, title="workbench (test)", description="",
                         readiness=[])
        app.add_middleware(SessionAsBearer, cookie_name=settings.session_cookie)
        app.include_router(http_session.router(services=self.services, settings=settings))
        app.include_router(http_tickets.router(pool=pool, schema=settings.schema,
                                               services=self.services, attachments=attachments,
                                               export_max_rows=settings.export_max_rows))
        app.include_router(http_desk.router(services=self.services, attachments=attachments))
        app.include_router(http_hotline.router(pool=pool, schema=settings.schema,
                                               services=self.services, knowledge=knowledge))
        app.include_router(pages.router())
        self.app = app

    def token(self, role: str, unit: str = "", sub: str = "") -> str:
        return auth.mint(self.settings, sub=sub or unit or role, role=role, unit=unit)

    def client(self, role: str | None = None, unit: str = "") -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {self.token(role, unit)}"} if role else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url="http://workbench.test", headers=headers)


@pytest.fixture
async def workbench(infra, unique):
    settings = WorkbenchSettings(pg_schema=f"workbench_{unique}", environment="test",
                                 identity_url="http://127.0.0.1:9", sla_url="http://127.0.0.1:9",
                                 audit_url="http://127.0.0.1:9",
                                 feedback_url="http://127.0.0.1:9",
                                 intake_url="http://127.0.0.1:9", dispatch_url="http://127.0.0.1:9",
                                 dispatch_grpc="127.0.0.1:9", upstream_timeout_s=2)
    ensure_database(settings)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    bench = Workbench(settings, pool)
    yield bench
    await bench.services.close()
    pool.close()
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))
