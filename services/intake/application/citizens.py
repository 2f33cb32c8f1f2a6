"""Citizens and their identity: proof by phone, their own tickets, the contact for a callback,
and erasure (crypto-shredding: the citizen's key is destroyed; tickets keep working).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg.sql import SQL, Identifier

from backbone import auth
from backbone.privacy import mask_phone
from backbone.store import EventContext
from services.intake.adapters.sms import OutboxSmsGateway, SmsGateway, SmsUnavailableError
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.adapters.verifications import VerificationStore
from services.intake.application.attachments import Attachments
from services.intake.application.submissions import IntakeApplication
from services.intake.domain.citizen import (
    CitizenIdentity,
    IdentityErasedError,
    IdentityVault,
    SealedIdentity,
    ascii_digits,
    normalise_phone,
    pseudonym_for_phone,
)
from services.intake.domain.rate_limit import KeyedRateLimiter
from services.intake.domain.sealed_contact import SealedContact, sealed_of
from services.intake.domain.ticket import Ticket

# Where a citizen's token is accepted: their own tickets at intake, ratings at feedback.
CITIZEN_AUDIENCE = ("intake", "feedback")
log = logging.getLogger(__name__)
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
CODE_SMS = "【{sign}】您的验证码为{code}，{minutes}分钟内有效，仅用于查询您在12345平台的诉求。请勿告诉他人。"


class CitizenError(Exception):
    """A citizen request that cannot be honoured; the reason says why (4xx)."""

    status = 400

    def __init__(self, reason: str, *, status: int | None = None, retry_after_s: float = 0):
        super().__init__(reason)
        self.reason = reason
        self.status = status or self.status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class CitizenPolicy:
    code_ttl_s: int = 300
    max_attempts: int = 5
    token_ttl_s: int = 24 * 3600
    show_codes: bool = False  # development/test only, and only where no SMS reaches a phone
    sms_sign: str = "阜阳12345"


class Citizens:
    def __init__(self, *, app: IntakeApplication, index: TicketIndex,
                 verifications: VerificationStore, vault: IdentityVault, pepper: bytes,
                 issuer: auth.Issuer, policy: CitizenPolicy, sms: SmsGateway | None = None,
                 attachments: Attachments | None = None, code_limiter: Any = None):
        self.app = app
        self.index = index
        self.verifications = verifications
        self.vault = vault
        self.pepper = pepper
        self.issuer = issuer  # intake's citizen-only key (kid citizen-...)
        self.policy = policy
        self.sms = sms or OutboxSmsGateway()
        self.attachments = attachments  # their photos and videos are shredded with them
        # One code a minute per phone, three in a burst: codes cost money and invite guessing.
        # (bootstrap passes one shared by every replica: adapters/rate_limits.py)
        self.code_limiter = code_limiter or KeyedRateLimiter(3, 1 / 60, time.monotonic)
        self._select_sealed: Any = None  # composed on the first contact read

    def _hash(self, citizen: str, code: str) -> str:
        return hmac.new(self.pepper, f"{citizen}:{code}".encode(), hashlib.sha256).hexdigest()

    def _citizen_of_phone(self, phone: str) -> str:
        digits = normalise_phone(phone)
        if not _MOBILE.match(digits):
            raise CitizenError("phone must be a mainland mobile number (11 digits, 1[3-9]...)")
        return pseudonym_for_phone(self.pepper, digits)

    def request_code(self, phone: str) -> dict[str, Any]:
        """Make a one-time code for this phone and send it by SMS (503 if the gateway fails)."""
        citizen = self._citizen_of_phone(phone)
        bucket = self.code_limiter.bucket(citizen)
        if not bucket.try_take():
            raise CitizenError("a code was sent to this phone a moment ago; wait before asking "
                               "again", status=429, retry_after_s=bucket.retry_after())
        code = f"{secrets.randbelow(10**6):06d}"
        expires = datetime.now(UTC) + timedelta(seconds=self.policy.code_ttl_s)
        self.verifications.issue(citizen, self._hash(citizen, code), expires)
        digits = normalise_phone(phone)
        message_id = self._send_code(citizen, digits, code)
        answer: dict[str, Any] = {"sent_to": mask_phone(digits), "expires_at": expires.isoformat(),
                                  "message_id": message_id}
        if self.policy.show_codes and not self.sms.reaches_phones:
            answer["code"] = code
        return answer

    def _send_code(self, citizen: str, phone: str, code: str) -> str:
        text = CODE_SMS.format(sign=self.policy.sms_sign, code=code,
                               minutes=max(1, self.policy.code_ttl_s // 60))
        try:
            message_id = self.sms.send(phone, text)
        except SmsUnavailableError as exc:
            self.verifications.burn(citizen)  # no one received it: it must not linger
            raise CitizenError(f"the code could not be sent: {exc.reason}; try again in a "
                               "minute", status=503, retry_after_s=60) from None
        log.info("verification code sent to %s", mask_phone(phone))
        return message_id

    def open_session(self, phone: str, code: str) -> dict[str, Any]:
        """Trade a valid one-time code for a citizen token (role citizen, sub = pseudonym)."""
        citizen = self._citizen_of_phone(phone)
        taken = self.verifications.take(citizen)
        refused = CitizenError("the code is wrong or expired; ask for a new one", status=401)
        if taken is None:
            raise refused
        code_hash, expires_at, attempts = taken
        if attempts >= self.policy.max_attempts or expires_at < datetime.now(UTC):
            self.verifications.burn(citizen)
            raise refused
        if not hmac.compare_digest(code_hash, self._hash(citizen, ascii_digits(code))):
            raise refused
        self.verifications.burn(citizen)
        token = self.issuer.mint(sub=citizen, role="citizen", ttl_s=self.policy.token_ttl_s,
                                 audience=CITIZEN_AUDIENCE)
        return {"token": token, "citizen": citizen, "expires_in_s": self.policy.token_ttl_s}

    def tickets_of(self, citizen: str) -> list[dict[str, Any]]:
        return [{"code": r["code"], "status": r["status"], "channel": r["channel"],
                 "text_masked": r["text_masked"],
                 "submitted_at": r["submitted_at"].isoformat() if r["submitted_at"] else None,
                 "case_primary_code": r.get("primary_code"), "unit": r.get("unit"),
                 "answer_masked": r.get("answer_masked") if r.get("answered_at") else None,
                 "answer_round": r.get("answer_round"),
                 **_interim(r),
                 "answered_at": _iso(r.get("answered_at")), "closed_at": _iso(r.get("closed_at")),
                 "rating": r.get("rating")}
                for r in self.index.of_citizen(citizen, erased=False)]

    def _ticket(self, code: str) -> Ticket:
        try:
            return self.app.repository.get(Ticket.create_id(code))
        except AggregateNotFoundError:
            raise CitizenError(f"no ticket with code {code}", status=404) from None

    def contact(self, code: str) -> CitizenIdentity:
        """The clear contact of a ticket's citizen, for staff who call back (电话回访) and the
        notifier's every notice (CitizenError: 404 no such ticket or an anonymous one, 410
        erased). See `contacts`."""
        found = self.contacts([code])[0]
        if isinstance(found, CitizenError):
            raise found
        return found

    def contacts(self, codes: list[str]) -> list[CitizenIdentity | CitizenError]:
        """The clear contacts of these tickets' citizens (canonical codes), in their order,
        each a CitizenIdentity or the CitizenError its read alone would raise. The sealed
        contacts' ids follow from the codes, so they are read first, in one SELECT of their
        events (session 16: the repository's read and reconstruction of each was ~1/7 of a
        contact read); a ticket is loaded only to tell "no such ticket" from "anonymous"."""
        ids = [SealedContact.create_id(Ticket.create_id(code)) for code in codes]
        sealed = self._sealed_contacts(ids)
        found: list[CitizenIdentity | CitizenError] = []
        for code, contact_id in zip(codes, ids, strict=True):
            one = sealed.get(contact_id)
            if one is None:
                try:
                    self._ticket(code)  # 404 when there is no such ticket
                except CitizenError as exc:
                    found.append(exc)
                    continue
                found.append(CitizenError(f"ticket {code} was submitted anonymously",
                                          status=404))
                continue
            try:
                found.append(self.vault.open(one))
            except IdentityErasedError as exc:
                error = CitizenError(f"the citizen's identity was erased: {exc}", status=410)
                error.__cause__ = exc
                found.append(error)
        return found

    def _sealed_contacts(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, SealedIdentity]:
        """The sealed contacts of these ids that exist, as their one event ("Sealed", the
        aggregate's `__init__`: it sets every attribute the read uses; a SealedContact has no
        other event) says them: one SELECT, decoded by the application's mapper, no aggregate
        made. Should a contact ever hold more than one event, the repository reconstructs it
        as before."""
        recorder: Any = self.app.recorder  # (backbone.store.TrackedRecorder)
        if self._select_sealed is None:
            self._select_sealed = SQL(
                "SELECT originator_id, originator_version, topic, state FROM {}.{}"
                " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
            ).format(Identifier(recorder.datastore.schema),
                     Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(self._select_sealed, (list(dict.fromkeys(ids)),), prepare=True)
            rows = cur.fetchall()
        events: dict[uuid.UUID, list[StoredEvent]] = {}
        for row in rows:
            events.setdefault(row["originator_id"], []).append(StoredEvent(
                originator_id=row["originator_id"], originator_version=row["originator_version"],
                topic=row["topic"], state=bytes(row["state"])))
        sealed: dict[uuid.UUID, SealedIdentity] = {}
        for contact_id, stored in events.items():
            if len(stored) > 1:  # (never written today)
                try:
                    contact: SealedContact = self.app.repository.get(contact_id)
                except AggregateNotFoundError:
                    continue
                sealed[contact_id] = contact.sealed
                continue
            sealed[contact_id] = sealed_of(self.app.mapper.to_domain_event(stored[0]))
        return sealed

    def citizen_of_ticket(self, code: str) -> tuple[str, uuid.UUID]:
        ticket = self._ticket(code)
        return ticket.citizen or f"ticket:{ticket.id}", ticket.id

    def erase(self, citizen: str, *, actor_role: str, actor_id: str,
              ticket_ids: list[uuid.UUID] | None = None) -> dict[str, Any]:
        """Destroy the citizen's key, then record the erasure on each of their tickets
        (those the read model lists, and any named: the newest may not be listed yet) whose
        contact the key sealed. A ticket whose contact still opens was sealed under a fresh
        key, made after the old one was destroyed (a request of the citizen's that came in
        while the erasure ran; a citizen who comes back gets a new key): its contact is not
        erased, so it is neither recorded nor answered as erased. A save in flight sealed
        under the old key holds it (application/sealing.py): either it committed first (the
        destroy waited for it) and is listed here, or it is refused and sealed again under a
        fresh key; none commits under the destroyed key unlisted."""
        self.vault.erase(citizen)
        listed = [] if citizen.startswith("ticket:") else [
            uuid.UUID(str(r["ticket_id"])) for r in self.index.of_citizen(citizen, limit=100_000)]
        ticket_ids = list(dict.fromkeys([*(ticket_ids or []), *listed]))
        now = datetime.now(UTC)
        erased = []
        tickets: list[Ticket] = [self.app.repository.get(t) for t in ticket_ids]
        tickets = [t for t, opens in zip(tickets, self._open(tickets), strict=True) if not opens]
        if self.attachments is not None:
            self.attachments.shred(citizen, [r["sha256"] if isinstance(r, dict) else str(r)
                                             for t in tickets for r in t.attachment_refs])
        for ticket in tickets:
            for attempt in range(3):  # the projector may merge the ticket at the same moment
                if attempt:
                    ticket = self.app.repository.get(ticket.id)
                if ticket.erased:
                    break
                ticket.erase_identity(at=now)
                try:
                    self.app.save(ticket, context=EventContext(
                        ticket_id=str(ticket.id), ticket_code=ticket.code,
                        actor_role=actor_role, actor_id=actor_id))
                except IntegrityError:
                    if attempt == 2:
                        raise
                    continue
                erased.append(ticket.code)
                break
        return {"erased": True, "tickets": erased}

    def _open(self, tickets: list[Ticket]) -> list[bool]:
        """Whether each ticket's sealed contact opens (with its citizen's key as it is now)."""
        if not tickets:
            return []
        try:
            found = self.contacts([t.code for t in tickets])
        except Exception:  # one unreadable otherwise (tampered): erased like the rest
            log.warning("contacts not read before an erasure; every ticket erased",
                        exc_info=True)
            return [False] * len(tickets)
        return [isinstance(f, CitizenIdentity) for f in found]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _interim(r: dict[str, Any]) -> dict[str, Any]:
    """A 需较长时间办理 explanation while the matter is not answered yet: the unit's (masked)
    reason, the day it expects it done (YYYY-MM-DD, Beijing) and when it was told; null once
    answered (the answer replaces it) or when none was given."""
    shown = r.get("interim_at") is not None and r.get("answered_at") is None
    return {"interim_masked": r.get("interim_masked") if shown else None,
            "interim_expected_by": _iso(r.get("interim_expected_by")) if shown else None,
            "interim_at": _iso(r.get("interim_at")) if shown else None}
