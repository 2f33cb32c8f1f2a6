"""Reconciliation: did every event each service published reach the ledger, and did anything
reach the ledger that no service wrote?

An operator's tool, run with read access to every service's schema (services never read each
other's tables; this is the audit, not a service). For each service it opens the service's own
eventsourcing application read-only (no DDL) on its schema, walks its notification log, and
re-runs the service's own `translate` over each stored event: the lifecycle-topic envelopes
that come out are what the service published, with their deterministic ids
(backbone.events.event_id_for). Where a service's translate cannot be built outside its
process (it needs live collaborators), the ids are matched without it: a stored event whose
id (n = 0..3) is in the ledger was published; the others are reported as "not in the ledger:
private or missing (no translate to tell which)".

Memory: the ledger's event ids are held in one set (about 100 bytes each).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import PersistenceError
from psycopg.sql import SQL, Identifier

from backbone import events
from backbone.relay import Publication, Translate
from backbone.store import EventContext, application_env
from services.audit.settings import AuditSettings

log = logging.getLogger(__name__)

PAGE = 2000
UNTRANSLATED_N = range(4)  # envelopes per stored event tried when ids are matched blindly
SHOWN = 20  # missing / orphan ids listed per service

# service -> its eventsourcing Application class ("module:Class")
APPLICATIONS = {
    "intake": "services.intake.application.submissions:IntakeApplication",
    "dispatch": "services.dispatch.application.app:DispatchApplication",
    "sla": "services.sla.application.app:SlaApplication",
    "feedback": "services.feedback.application.app:FeedbackApplication",
    "analytics": "services.analytics.application.reports:AnalyticsApplication",
}


def _topic_arguments(settings: AuditSettings) -> dict[str, Any]:
    return {"lifecycle_topic": settings.lifecycle_topic,
            "replies_topic": settings.topic("intake.replies"),
            "notices_topic": settings.topic("citizen.notices"),
            "settings": settings}


def _simple_translate(module: str) -> Callable[[AuditSettings], Translate]:
    """A service's `translate_for(...)` whose arguments are only topic names (and settings)."""

    def make(settings: AuditSettings) -> Translate:
        translate_for = importlib.import_module(module).translate_for
        known = _topic_arguments(settings)
        wanted = inspect.signature(translate_for).parameters
        return translate_for(**{name: known[name] for name in wanted})  # type: ignore[no-any-return]

    return make


# service -> how to build its translate outside its process (absent: ids matched blindly)
TRANSLATORS: dict[str, Callable[[AuditSettings], Translate]] = {
    "intake": _simple_translate("services.intake.entrypoints.publications"),
    "analytics": _simple_translate("services.analytics.entrypoints.publications"),
}


@dataclass
class Origin:
    """One service's store, as the reconciliation reads it."""

    service: str
    schema: str
    open_app: Callable[[], Application]
    translate: Translate | None = None


@dataclass
class ServiceReport:
    service: str
    schema: str
    stored_events: int = 0
    published: int = 0  # lifecycle envelopes translate produced (or ids matched blindly)
    found: int = 0
    missing: list[str] = field(default_factory=list)
    unpublished_or_missing: int = 0  # blind matching only: stored events not in the ledger
    translate_errors: int = 0
    method: str = "translate"
    error: str = ""

    def json(self) -> dict[str, Any]:
        return {"service": self.service, "schema": self.schema, "method": self.method,
                "stored_events": self.stored_events, "published": self.published,
                "found_in_ledger": self.found, "missing_from_ledger": len(self.missing),
                "missing_event_ids": self.missing[:SHOWN],
                "not_in_ledger_private_or_missing": self.unpublished_or_missing,
                "translate_errors": self.translate_errors, "error": self.error}


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
    out = []
    for service, class_path in APPLICATIONS.items():
        schema = (schemas or {}).get(service, service)
        translate = None
        make = TRANSLATORS.get(service)
        if make is not None:
            try:
                translate = make(settings)
            except (ImportError, AttributeError, KeyError, TypeError) as exc:
                log.warning("cannot build %s's translate (%s): matching ids blindly", service, exc)
        out.append(Origin(service, schema,
                          lambda p=class_path, s=schema: read_only_app(p, settings, s),  # type: ignore[misc]
                          translate))
    return out


def _contexts(conn: psycopg.Connection[Any], schema: str,
              keys: list[tuple[str, int]]) -> dict[tuple[str, int], EventContext]:
    rows = conn.execute(
        SQL("SELECT c.originator_id::text, c.originator_version, c.ticket_id, c.ticket_code,"
            " c.trace_id, c.causation_id, c.actor_role, c.actor_id, c.actor_unit"
            " FROM {}.event_context c JOIN unnest(%s::uuid[], %s::bigint[]) AS k(oid, v)"
            " ON c.originator_id = k.oid AND c.originator_version = k.v")
        .format(Identifier(schema)), ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return {(r[0], r[1]): EventContext(*r[2:]) for r in rows}


def stored_publications(app: Application, conn: psycopg.Connection[Any], schema: str,
                        service: str) -> Iterator[Publication]:
    """Every event in the service's notification log, as its relay would see it."""
    start = 0
    while True:
        notes = app.recorder.select_notifications(start=start, limit=PAGE,
                                                  inclusive_of_start=False)
        if not notes:
            return
        contexts = _contexts(conn, schema, [(str(n.originator_id), n.originator_version)
                                            for n in notes])
        for note in notes:
            ctx = contexts.get((str(note.originator_id), note.originator_version),
                               EventContext())
            yield Publication(app.mapper.to_domain_event(note), note.id, ctx, service)
        start = notes[-1].id


def reconcile_origin(origin: Origin, ledger_ids: set[str], lifecycle_topic: str,
                     conninfo: str, claimed: set[str]) -> ServiceReport:
    report = ServiceReport(origin.service, origin.schema,
                           method="translate" if origin.translate else "ids matched blindly")
    try:
        app = origin.open_app()
    except Exception as exc:  # a service whose code or schema is not there: say so, go on
        report.error = f"cannot open the {origin.service} store: {type(exc).__name__}: {exc}"
        return report
    try:
        with psycopg.connect(conninfo) as conn:
            for pub in stored_publications(app, conn, origin.schema, origin.service):
                report.stored_events += 1
                _account(report, origin, pub, ledger_ids, lifecycle_topic, claimed)
    except (psycopg.Error, PersistenceError) as exc:
        report.error = f"cannot read the {origin.service} store: {str(exc).splitlines()[0]}"
    finally:
        app.close()
    return report


def _account(report: ServiceReport, origin: Origin, pub: Publication, ledger_ids: set[str],
             lifecycle_topic: str, claimed: set[str]) -> None:
    if origin.translate is None:
        ids = [events.event_id_for(pub.event.originator_id, pub.event.originator_version, n)
               for n in UNTRANSLATED_N]
        hits = [i for i in ids if i in ledger_ids]
        claimed.update(hits)
        report.published += len(hits)
        report.found += len(hits)
        report.unpublished_or_missing += 0 if hits else 1
        return
    try:
        outgoing = origin.translate(pub)
    except Exception:
        report.translate_errors += 1
        return
    for o in outgoing:
        if o.topic != lifecycle_topic:
            continue
        report.published += 1
        claimed.add(o.envelope.event_id)
        if o.envelope.event_id in ledger_ids:
            report.found += 1
        else:
            report.missing.append(o.envelope.event_id)


def reconcile(settings: AuditSettings, origins: list[Origin] | None = None) -> dict[str, Any]:
    """The report: per service published / found / missing, and ledger entries with no origin."""
    from services.audit.bootstrap import build_parts

    parts = build_parts(settings, pool_size=2)
    try:
        ledger = list(parts.reader.event_ids())
    finally:
        parts.pool.close()
    ledger_ids = {r[1] for r in ledger}
    claimed: set[str] = set()
    reports = [reconcile_origin(o, ledger_ids, settings.lifecycle_topic, settings.pg_conninfo(),
                                claimed) for o in (origins or default_origins(settings))]
    checked = {r.service for r in reports if not r.error}
    orphans = [{"ledger_seq": seq, "event_id": eid, "producer": producer, "event_type": etype}
               for seq, eid, producer, etype in ledger
               if eid not in claimed and producer in checked]
    unchecked = sum(1 for _, eid, producer, _ in ledger
                    if eid not in claimed and producer not in checked)
    ok = not orphans and all(not r.missing and not r.error for r in reports)
    return {"ok": ok, "ledger_entries": len(ledger),
            "services": [r.json() for r in reports],
            "entries_without_origin": len(orphans), "orphans": orphans[:SHOWN],
            "entries_of_unchecked_producers": unchecked}


def render(report: dict[str, Any]) -> str:
    lines = [f"ledger: {report['ledger_entries']} entries"]
    for s in report["services"]:
        if s["error"]:
            lines.append(f"  {s['service']:<10} NOT CHECKED: {s['error']}")
            continue
        line = (f"  {s['service']:<10} stored {s['stored_events']}, published "
                f"{s['published']}, in ledger {s['found_in_ledger']}, missing "
                f"{s['missing_from_ledger']} ({s['method']})")
        if s["not_in_ledger_private_or_missing"]:
            line += f"; {s['not_in_ledger_private_or_missing']} not in ledger (private or missing)"
        lines.append(line)
        lines += [f"      missing {eid}" for eid in s["missing_event_ids"]]
    lines.append(f"  entries no service wrote: {report['entries_without_origin']}")
    lines += [f"      {o['ledger_seq']} {o['producer']} {o['event_type']} {o['event_id']}"
              for o in report["orphans"]]
    if report["entries_of_unchecked_producers"]:
        lines.append(f"  entries of producers not checked: "
                     f"{report['entries_of_unchecked_producers']}")
    lines.append("RECONCILED" if report["ok"] else "DISCREPANCIES FOUND")
    return "\n".join(lines)
