"""Reconciliation: did every event each service published reach the ledger, unchanged, and
does the ledger hold anything no service wrote?

An operator's tool, run with read access to every service's schema and the ledger (services
never read each other's tables; this is the audit, not a service). It writes nothing, creates
nothing. For each service (see `origins.py`) it walks the notification log and re-runs the
service's own pure lifecycle translate over every stored event. What comes out is exactly
what the service's relay published on the lifecycle topic (deterministic ids), so each stored
event is one of:

* published, and in the ledger with the same bytes           -> found
* published, in the ledger, but the bytes differ             -> differs (listed)
* published, not in the ledger                               -> missing (listed: ticket code,
                                                                type, id, where in the store)
* never published (the service keeps it inside)              -> private (counted by type)

Bytes are compared as SHA-256 digests. An envelope whose stored context had no trace id got a
random one from the relay (each republication a new one), so for those the ledger's trace id
is taken before comparing. Then every ledger entry that no service claimed is an orphan
(listed with its place in the ledger). A service whose schema is missing is reported "not
checked"; entries of producers not checked are counted apart, not called orphans.

Memory: a 16-byte digest per ledger entry, keyed by event id (about 150 bytes each).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from minsheng.v1 import envelope_pb2
from psycopg.sql import SQL, Identifier

from backbone import events
from backbone.relay import Publication
from services.audit.application.origins import Origin, default_origins, stored_publications
from services.audit.settings import AuditSettings

log = logging.getLogger(__name__)

# Events a service derives from the lifecycle stream itself rather than from its store (the
# analytics surge worker's alerts, faust state in Kafka): no store to re-run, so they are
# counted apart, like the entries of producers not checked, never called orphans.
STREAM_DERIVED = frozenset({"SurgeDetected"})
UNTRANSLATED_N = range(4)  # envelopes per stored event tried when ids are matched blindly
SHOWN = 20  # missing / differing / orphan entries listed per report
BATCH = 1000


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:16]


def traceless(raw: bytes) -> bytes:
    """The envelope's digest with its trace id cleared."""
    env = envelope_pb2.Envelope.FromString(raw)
    env.trace_id = ""
    return digest(env.SerializeToString())


@dataclass
class ServiceReport:
    service: str
    schema: str
    method: str = "translate"
    stored_events: int = 0
    expected: int = 0  # lifecycle envelopes the service published (translate re-run)
    found: int = 0
    missing_count: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    differing_count: int = 0
    differing: list[dict[str, Any]] = field(default_factory=list)
    private: Counter[str] = field(default_factory=Counter)
    not_in_ledger_unknown: int = 0  # blind matching only: private or missing, cannot tell
    translate_errors: int = 0
    first_translate_error: str = ""
    error: str = ""
    # envelopes whose trace id was random: (event id, digest without trace id, listing)
    traceless: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing found wrong (blind matching cannot find a loss: see `exact`)."""
        return not (self.error or self.missing_count or self.differing_count
                    or self.translate_errors)

    def differs(self, where: dict[str, Any]) -> None:
        self.differing_count += 1
        if len(self.differing) < SHOWN:
            self.differing.append(where)

    def json(self) -> dict[str, Any]:
        return {"service": self.service, "schema": self.schema, "method": self.method,
                "ok": self.ok, "stored_events": self.stored_events,
                "expected_on_lifecycle_topic": self.expected, "found_in_ledger": self.found,
                "missing_from_ledger": self.missing_count, "missing": self.missing,
                "content_differs": self.differing_count, "differing": self.differing,
                "private": self.private.total(), "private_by_type": dict(self.private),
                "not_in_ledger_private_or_missing": self.not_in_ledger_unknown,
                "translate_errors": self.translate_errors,
                "first_translate_error": self.first_translate_error, "error": self.error}


class Ledger:
    """The ledger as the reconciliation reads it: a plain read-only session, no DDL."""

    def __init__(self, conninfo: str, schema: str):
        self.conninfo, self.table = conninfo, SQL("{}.ledger").format(Identifier(schema))

    def digests(self) -> dict[str, bytes]:
        with psycopg.connect(self.conninfo) as conn, conn.transaction(), \
                conn.cursor(name="reconcile_digests") as cur:
            cur.itersize = 20000
            cur.execute(SQL("SELECT event_id, substring(sha256(event) FROM 1 FOR 16) FROM {}")
                        .format(self.table))
            return {eid: bytes(d) for eid, d in cur}

    def raw(self, event_ids: list[str]) -> dict[str, bytes]:
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute(SQL("SELECT event_id, event FROM {} WHERE event_id = ANY(%s)")
                                .format(self.table), (event_ids,)).fetchall()
        return {eid: bytes(raw) for eid, raw in rows}

    def unclaimed(self, claimed: set[str]) -> Any:
        """(ledger_seq, event_id, producer, event_type, ticket_code) of entries not claimed."""
        with psycopg.connect(self.conninfo) as conn, conn.transaction(), \
                conn.cursor(name="reconcile_orphans") as cur:
            cur.itersize = 20000
            cur.execute(SQL("SELECT ledger_seq, event_id, producer, event_type, ticket_code"
                            " FROM {} ORDER BY ledger_seq").format(self.table))
            for row in cur:
                if row[1] not in claimed:
                    yield row


def reconcile_origin(origin: Origin, ledger: dict[str, bytes], conninfo: str,
                     claimed: set[str]) -> ServiceReport:
    report = ServiceReport(origin.service, origin.schema, method="translate" if origin.lifecycle
                           else "ids matched blindly (no translate: private or missing?)")
    try:
        app = origin.open_app()
        translate = origin.lifecycle(app) if origin.lifecycle else None
    except Exception as exc:  # a service whose code or schema is not there: say so, go on
        report.error = f"cannot open the {origin.service} store: {type(exc).__name__}: {exc}"
        return report
    try:
        with psycopg.connect(conninfo) as conn:
            for pub in stored_publications(app, conn, origin.schema, origin.service):
                report.stored_events += 1
                if translate is None:
                    _match_blindly(report, pub, ledger, claimed)
                else:
                    _account(report, translate, pub, ledger, claimed)
    except (psycopg.Error, PersistenceError) as exc:
        report.error = f"cannot read the {origin.service} store: {str(exc).splitlines()[0]}"
    finally:
        app.close()
    return report


def _match_blindly(report: ServiceReport, pub: Publication, ledger: dict[str, bytes],
                   claimed: set[str]) -> None:
    ids = [events.event_id_for(pub.event.originator_id, pub.event.originator_version, n)
           for n in UNTRANSLATED_N]
    hits = [i for i in ids if i in ledger]
    claimed.update(hits)
    report.expected += len(hits)
    report.found += len(hits)
    report.not_in_ledger_unknown += 0 if hits else 1


def _account(report: ServiceReport, translate: Any, pub: Publication,
             ledger: dict[str, bytes], claimed: set[str]) -> None:
    try:
        envelopes = list(translate(pub))
    except Exception as exc:  # one bad event must not hide the rest: counted, reported
        report.translate_errors += 1
        report.first_translate_error = report.first_translate_error or (
            f"notification {pub.notification_id} ({type(pub.event).__qualname__}): "
            f"{type(exc).__name__}: {exc}")
        return
    if not envelopes:
        report.private[type(pub.event).__qualname__] += 1
        return
    for env in envelopes:
        report.expected += 1
        claimed.add(env.event_id)
        where = {"event_id": env.event_id, "event_type": env.event_type,
                 "ticket_code": env.ticket_code, "ticket_id": env.ticket_id,
                 "notification_id": pub.notification_id}
        stored = ledger.get(env.event_id)
        if stored is None:
            report.missing_count += 1
            if len(report.missing) < SHOWN:
                report.missing.append(where)
            continue
        report.found += 1
        if not pub.context.trace_id:  # the relay drew a random trace id: compare without it
            report.traceless.append((env.event_id, traceless(env.SerializeToString()), where))
        elif digest(env.SerializeToString()) != stored:
            report.differs(where)


def _compare_traceless(report: ServiceReport, ledger: Ledger) -> None:
    pending, report.traceless = report.traceless, []
    for i in range(0, len(pending), BATCH):
        batch = pending[i:i + BATCH]
        raw = ledger.raw([eid for eid, _, _ in batch])
        for eid, expected, where in batch:
            if eid not in raw or traceless(raw[eid]) != expected:
                report.differs(where)


def reconcile(settings: AuditSettings, origins: list[Origin] | None = None) -> dict[str, Any]:
    """The report: per service expected / found / missing / differing / private, and the
    ledger entries no service wrote."""
    conninfo = settings.pg_conninfo()
    ledger = Ledger(conninfo, settings.schema)
    digests = ledger.digests()
    claimed: set[str] = set()
    origins_used = origins or default_origins(settings)
    reports = [reconcile_origin(o, digests, conninfo, claimed) for o in origins_used]
    for r in reports:
        _compare_traceless(r, ledger)
    checked = {r.service for r in reports if not r.error}
    orphans: list[dict[str, Any]] = []
    orphan_count = unchecked = 0
    for seq, eid, producer, etype, code in ledger.unclaimed(claimed):
        if producer not in checked or etype in STREAM_DERIVED:
            unchecked += 1
            continue
        orphan_count += 1
        if len(orphans) < SHOWN:
            orphans.append({"ledger_seq": seq, "event_id": eid, "producer": producer,
                            "event_type": etype, "ticket_code": code})
    ok = not orphan_count and all(r.ok for r in reports)
    exact = all(o.lifecycle is not None for o in origins_used)
    return {"ok": ok, "exact": exact, "ledger_entries": len(digests),
            "services": [r.json() for r in reports],
            "entries_without_origin": orphan_count, "orphans": orphans,
            "entries_of_unchecked_producers": unchecked}


def render(report: dict[str, Any]) -> str:
    lines = [f"ledger: {report['ledger_entries']} entries"]
    for s in report["services"]:
        if s["error"]:
            lines.append(f"  {s['service']:<10} NOT CHECKED: {s['error']}")
            continue
        lines.append(
            f"  {s['service']:<10} stored {s['stored_events']}, expected on the lifecycle "
            f"topic {s['expected_on_lifecycle_topic']}, in ledger {s['found_in_ledger']}, "
            f"missing {s['missing_from_ledger']}, content differs {s['content_differs']}, "
            f"private {s['private']} ({s['method']})")
        lines += [f"      missing  {m['ticket_code'] or '-'} {m['event_type']} {m['event_id']}"
                  f" (notification {m['notification_id']})" for m in s["missing"]]
        lines += [f"      differs  {m['ticket_code'] or '-'} {m['event_type']} {m['event_id']}"
                  for m in s["differing"]]
        if s["private_by_type"]:
            lines.append("      private: " + ", ".join(
                f"{t} {n}" for t, n in sorted(s["private_by_type"].items())))
        if s["not_in_ledger_private_or_missing"]:
            lines.append(f"      {s['not_in_ledger_private_or_missing']} stored events not in "
                         f"the ledger: private or missing (no translate to tell which)")
        if s["translate_errors"]:
            lines.append(f"      translate failed {s['translate_errors']} times; first: "
                         f"{s['first_translate_error']}")
    lines.append(f"  entries no service wrote: {report['entries_without_origin']}")
    lines += [f"      orphan at ledger_seq {o['ledger_seq']}: {o['producer']} "
              f"{o['event_type']} {o['ticket_code'] or '-'} {o['event_id']}"
              for o in report["orphans"]]
    if report["entries_of_unchecked_producers"]:
        lines.append(f"  entries of producers not checked: "
                     f"{report['entries_of_unchecked_producers']}")
    if not report["exact"]:
        lines.append("  (some services were matched blindly: a lost event of theirs may pass)")
    lines.append("RECONCILED" if report["ok"] else "DISCREPANCIES FOUND")
    return "\n".join(lines)
