"""The stores the ledger's events come from, as the reconciliation reads them.

For each service: its eventsourcing application, opened read-only on its schema (only the
mapper and the recorder: no constructor collaborators, no DDL), and its *lifecycle
translate*: the pure function the service's own relay uses to turn one stored event into the
envelopes it publishes on the lifecycle topic, with their deterministic ids. Each is built
from the service's store (and its data files) alone: no process, Kafka or network.

    intake, analytics          their relay's `translate_for(topic names)`, lifecycle topic kept
    dispatch, sla, feedback    `application.publishing.lifecycle_from_store(app)`

A service this table does not know has no translate: its ids are matched blindly and the
report says it cannot tell an event never published from one lost.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.sql import SQL, Identifier

from backbone.relay import Publication
from backbone.store import CONTEXT_FIELDS, EventContext, application_env, has_context_columns
from services.audit.settings import AuditSettings

log = logging.getLogger(__name__)

PAGE = 2000

# one stored event -> the envelopes its service published on the lifecycle topic
LifecycleTranslate = Callable[[Publication], Sequence[Any]]
TranslateFromStore = Callable[[Application], LifecycleTranslate]

# service -> its eventsourcing Application class ("module:Class")
APPLICATIONS = {
    "intake": "services.intake.application.submissions:IntakeApplication",
    "dispatch": "services.dispatch.application.app:DispatchApplication",
    "sla": "services.sla.application.app:SlaApplication",
    "feedback": "services.feedback.application.app:FeedbackApplication",
    "analytics": "services.analytics.application.reports:AnalyticsApplication",
}


def relay_translate(module: str, settings: AuditSettings) -> TranslateFromStore:
    """A service's `translate_for(...)` whose arguments are only topic names (and settings),
    keeping what goes to the lifecycle topic."""
    known = {"lifecycle_topic": settings.lifecycle_topic,
             "replies_topic": settings.topic("intake.replies"),
             "notices_topic": settings.topic("citizen.notices"), "settings": settings}

    def build(_: Application) -> LifecycleTranslate:
        translate_for = importlib.import_module(module).translate_for
        wanted = inspect.signature(translate_for).parameters
        translate = translate_for(**{name: known[name] for name in wanted})
        return lambda pub: [o.envelope for o in translate(pub)
                            if o.topic == settings.lifecycle_topic]

    return build


def from_store(module: str) -> TranslateFromStore:
    """A service's `lifecycle_from_store(app)`: its pure lifecycle translate and read-only
    lookups rebuilt from its own store."""
    return lambda app: importlib.import_module(module).lifecycle_from_store(app)  # type: ignore[no-any-return]


def lifecycle_translators(settings: AuditSettings) -> dict[str, TranslateFromStore]:
    return {
        "intake": relay_translate("services.intake.entrypoints.publications", settings),
        "dispatch": from_store("services.dispatch.application.publishing"),
        "sla": from_store("services.sla.application.publishing"),
        "feedback": from_store("services.feedback.application.publishing"),
        "analytics": relay_translate("services.analytics.entrypoints.publications", settings),
    }


@dataclass
class Origin:
    """One service's store, as the reconciliation reads it."""

    service: str
    schema: str
    open_app: Callable[[], Application]
    lifecycle: TranslateFromStore | None = None  # None: ids matched blindly


def read_only_app(class_path: str, settings: AuditSettings, schema: str) -> Application:
    """The service's application on its schema, without its own constructor's collaborators
    and without creating tables: only the mapper (its transcodings) and the recorder."""
    module, _, name = class_path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    env = {**application_env(settings.model_copy(update={"pg_schema": schema})),
           "CREATE_TABLE": "n", "POSTGRES_POOL_SIZE": "2"}
    app = cls.__new__(cls)
    Application.__init__(app, env=env)
    return app  # type: ignore[no-any-return]


def default_origins(settings: AuditSettings, schemas: dict[str, str] | None = None
                    ) -> list[Origin]:
    translators = lifecycle_translators(settings)
    out = []
    for service, class_path in APPLICATIONS.items():
        schema = (schemas or {}).get(service, service)
        out.append(Origin(service, schema,
                          lambda p=class_path, s=schema: read_only_app(p, settings, s),  # type: ignore[misc]
                          translators.get(service)))
    return out


def _contexts(conn: psycopg.Connection[Any], schema: str, events_table: str,
              keys: list[tuple[str, int]]) -> dict[tuple[str, int], EventContext]:
    """The events' contexts: in the event's own row (stored since session 8), else in
    event_context (stored before; an events table no newer service has started on has only
    that)."""
    params = ([k[0] for k in keys], [k[1] for k in keys])
    old = SQL("SELECT c.originator_id::text, c.originator_version, " +
              ", ".join(f"c.{name}" for name in CONTEXT_FIELDS) +
              " FROM {}.event_context c JOIN unnest(%s::uuid[], %s::bigint[]) AS k(oid, v)"
              " ON c.originator_id = k.oid AND c.originator_version = k.v")
    if not has_context_columns(conn, schema, events_table):
        rows = conn.execute(old.format(Identifier(schema)), params).fetchall()
        return {(r[0], r[1]): EventContext(*r[2:]) for r in rows}
    own = ", ".join(f"e.{name}" for name in CONTEXT_FIELDS)
    rows = conn.execute(
        SQL("SELECT e.originator_id::text, e.originator_version, " + own +
            " FROM {}.{} e JOIN unnest(%s::uuid[], %s::bigint[]) AS k(oid, v)"
            " ON e.originator_id = k.oid AND e.originator_version = k.v"
            " WHERE e.ticket_id IS NOT NULL")
        .format(Identifier(schema), Identifier(events_table)), params).fetchall()
    found = {(r[0], r[1]): EventContext(*r[2:]) for r in rows}
    missing = [k for k in keys if k not in found]
    if missing:  # rows stored before: their contexts, if any, are in event_context
        rows = conn.execute(old.format(Identifier(schema)),
                            ([k[0] for k in missing], [k[1] for k in missing])).fetchall()
        found.update({(r[0], r[1]): EventContext(*r[2:]) for r in rows})
    return found


def stored_publications(app: Application, conn: psycopg.Connection[Any], schema: str,
                        service: str) -> Iterator[Publication]:
    """Every event in the service's notification log, as its relay would see it."""
    start = 0
    while True:
        notes = app.recorder.select_notifications(start=start, limit=PAGE,
                                                  inclusive_of_start=False)
        if not notes:
            return
        contexts = _contexts(conn, schema, app.recorder.events_table_name,  # type: ignore[attr-defined]
                             [(str(n.originator_id), n.originator_version) for n in notes])
        for note in notes:
            ctx = contexts.get((str(note.originator_id), note.originator_version),
                               EventContext())
            yield Publication(app.mapper.to_domain_event(note), note.id, ctx, service)
        start = notes[-1].id
