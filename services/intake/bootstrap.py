"""Wires intake: settings -> infrastructure -> application -> HTTP, relay, consumers, projector.
The role (settings.intake_role) picks the parts one process runs. No I/O at import."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import Request
from fastapi.responses import JSONResponse

from backbone import auth
from backbone.access_log import AccessLog
from backbone.clock import Clock
from backbone.consumer import IdempotentConsumer, gather
from backbone.group_commit import GroupCommitter
from backbone.http import MAX_BODY_BYTES, ServiceApp, create_app, error
from backbone.rate_limits import SharedRateLimits
from backbone.relay import OutboxRelay
from backbone.runtime import Infrastructure, Loop, Service, connect
from backbone.store import application_env
from services.intake.adapters import (
    attachment_store,
    codes,
    identity_store,
    rate_limits,
    submission_keys,
    submission_reads,
    ticket_index,
)
from services.intake.adapters import verifications as verification_store
from services.intake.adapters.recorder import RECORDER_TOPIC
from services.intake.adapters.sms import sms_gateway_for
from services.intake.application import handlers as handler_tables
from services.intake.application import merge_refusals
from services.intake.application.answered import AnsweredTickets
from services.intake.application.attachments import Attachments
from services.intake.application.bus_requests import BusIntake
from services.intake.application.citizens import CitizenPolicy, Citizens
from services.intake.application.merges import Merges
from services.intake.application.projector import TicketProjector
from services.intake.application.sealing import ContactSealing
from services.intake.application.submissions import IntakeApplication, Submissions
from services.intake.domain.citizen import IdentityVault
from services.intake.domain.open311 import load_catalogue
from services.intake.domain.validation import load_acceptance_rules, load_city_boundary
from services.intake.entrypoints import (
    access_api,
    bus,
    bus_key,
    citizens_api,
    fast_contact,
    fast_submit,
    fast_upload,
    http_api,
    limits,
    open311,
    publications,
    upload_sweep,
)
from services.intake.settings import IntakeSettings, bus_keyring, citizen_issuer

log = logging.getLogger(__name__)
_SETUP_ATTEMPTS = 8


def build_application(settings: IntakeSettings) -> IntakeApplication:
    # No pre-ping: it costs a round trip on every checkout, on the hot path; a dead connection
    # raises OperationalError instead, which eventsourcing retries on a fresh one.
    return IntakeApplication(env={**application_env(settings), "POSTGRES_PRE_PING": "n",
                                  "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC})


def _create_tables(infra: Infrastructure, schema: str) -> None:
    for module in (codes, attachment_store, ticket_index, verification_store, rate_limits,
                   submission_keys):
        module.create_table(infra.pool, schema)  # type: ignore[attr-defined]
    identity_store.create_tables(infra.pool, schema)


def _http(settings: IntakeSettings, infra: Infrastructure) -> ServiceApp:
    http = create_app(settings=settings, title="Minsheng intake",
                      description="一网尽收: every channel into one net, one code per request.",
                      readiness=[infra.pg_ready, infra.kafka_ready],
                      # an attachment may be larger than the platform's usual body limit
                      max_body_bytes=max(MAX_BODY_BYTES, settings.max_attachment_bytes + 64 * 1024))
    limits.install(http, {"/v1/requests": settings.max_request_bytes,
                          "/v1/citizens": 4096, "/v1/tickets": 4096,
                          "/open311/v2/requests": settings.max_request_bytes,
                          "/v1/attachments": settings.max_attachment_bytes + 64 * 1024})
    open311.install_errors(http)

    @http.exception_handler(citizens_api.CitizenRefusedError)
    async def citizen_refused(_: Request, exc: citizens_api.CitizenRefusedError) -> JSONResponse:
        return error(exc.status, exc.code, exc.detail, citizens_api.retry_after_header(exc))

    return http


async def _storage(settings: IntakeSettings) -> tuple[Infrastructure, IntakeApplication]:
    """Connect and create intake's tables. The api and projector processes start together and
    may race each other's CREATE TABLE IF NOT EXISTS (PostgreSQL can still raise on that): the
    loser waits and tries again, and finds the tables made."""
    for attempt in range(_SETUP_ATTEMPTS):
        try:
            infra = await connect(settings)
            break
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
            if attempt == _SETUP_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    for attempt in range(_SETUP_ATTEMPTS):
        try:
            app = build_application(settings)
            _create_tables(infra, settings.schema)
            return infra, app
        except (psycopg.Error, PersistenceError):
            if attempt == _SETUP_ATTEMPTS - 1:
                raise
            log.info("intake tables being created by another process; retrying")
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _read_side(settings: IntakeSettings, infra: Infrastructure,
               app: IntakeApplication) -> list[Loop]:
    """What keeps the read model: the projector of intake's own log (with 并单), the
    consumer of other services' facts, which reads every event on the lifecycle topic, and
    the consumer that undoes the merges dispatch refused."""
    index = ticket_index.TicketIndex(infra.pool, settings.schema)
    projector = TicketProjector(app=app, index=index, schema=settings.schema,
                                radius_m=settings.duplicate_radius_m,
                                keep=timedelta(hours=settings.duplicate_keep_hours),
                                interval_s=settings.projector_interval_ms / 1000,
                                gather_s=settings.projector_gather_ms / 1000)
    facts = IdempotentConsumer(
        name="intake-lifecycle", settings=settings, pool=infra.pool, producer=infra.producer,
        topics=[settings.lifecycle_topic], handlers=handler_tables.lifecycle(index),
        gather=gather(settings.read_side_gather_ms))
    # 并单 that dispatch refused (the unit had replied): undone, in aggregate mode, with the
    # consumer's progress; here beside the detector, whose merges are saved here too (the api's
    # relay publishes both), not in the api, whose CPU every request needs. It gathers its
    # fetches as the read side's other consumer does: a refusal is rare and nobody waits on
    # its undo. A fetch round per arriving event (no gather) cost 5.7-5.8 ms of CPU a ticket;
    # gathered, 0.8-1.0 (`bench.consumer_cost --service intake-merge-refusals --rate 25`)
    refusals = IdempotentConsumer(
        name=merge_refusals.CONSUMER, settings=settings, pool=infra.pool,
        producer=infra.producer, topics=[settings.lifecycle_topic], app=app,
        handlers=merge_refusals.handlers(app), gather=gather(settings.read_side_gather_ms))
    return [projector.run, facts.run, refusals.run]


async def build(settings: IntakeSettings) -> Service:  # type: ignore[override]
    if settings.intake_role == "projector":
        # Two loops, one thread each: a few connections do; PostgreSQL's are shared by all.
        settings = settings.model_copy(update={"pg_pool_size": min(settings.pg_pool_size, 4)})
    infra, app = await _storage(settings)
    if settings.intake_role == "projector":
        # Health, readiness and metrics only: the read side serves no API of its own.
        return Service(settings=settings, infra=infra, http=_http(settings, infra),
                       loops=_read_side(settings, infra, app), on_stop=[app.close])
    clock = Clock(settings.clock)
    index = ticket_index.TicketIndex(infra.pool, settings.schema)
    keys = identity_store.PostgresCitizenKeyStore(infra.pool, settings.schema)
    vault = IdentityVault(keys, settings.master_keys(), settings.identity_master_key_id)
    attachments = Attachments(attachment_store.AttachmentStore(infra.pool, settings.schema),
                              vault, index, retention_s=settings.intake_upload_retention_s)
    attachments.migrate_legacy()
    committer = GroupCommitter(app, service=settings.service)
    pepper = settings.pseudonym_pepper.encode()
    # shared by every replica of intake (PostgreSQL), not one bucket per process
    throttle = rate_limits.SharedSubmissionThrottle(
        infra.pool, settings.schema, adapter_capacity=settings.adapter_burst,
        adapter_rate=settings.adapter_rate_per_s, citizen_capacity=settings.citizen_burst,
        citizen_rate=settings.citizen_rate_per_s)
    submissions = Submissions(
        app=app, committer=committer,
        codes=codes.CodeSequence(infra.pool, settings.schema, settings.code_block),
        rules=load_acceptance_rules(), city=load_city_boundary(), region=settings.region,
        pepper=pepper, attachments=attachments, vault=vault,
        sealing=ContactSealing(vault, keys.claim, keys.hold),
        answered=AnsweredTickets(index, load_acceptance_rules().already_answered_window),
        index=index, keys=keys,
        submission_keys=submission_keys.SubmissionKeys(infra.pool, settings.schema),
        reads=submission_reads.SubmissionReads(
            settings.pg_conninfo(), settings.schema, citizen_capacity=settings.citizen_burst,
            citizen_rate=settings.citizen_rate_per_s,
            answered_window=load_acceptance_rules().already_answered_window,
            leases=throttle),  # a spent lease of an adapter's tokens renewed in the same read
        throttle=throttle)
    citizens = Citizens(
        app=app, index=index, vault=vault, pepper=pepper, issuer=citizen_issuer(settings),
        verifications=verification_store.VerificationStore(infra.pool, settings.schema),
        sms=sms_gateway_for(settings),
        code_limiter=rate_limits.SharedKeyedLimiter(infra.pool, settings.schema, prefix="code",
                                                    capacity=3, rate=1 / 60),
        policy=CitizenPolicy(code_ttl_s=settings.verification_ttl_s,
                             max_attempts=settings.verification_attempts,
                             token_ttl_s=settings.citizen_token_ttl_s,
                             sms_sign=settings.intake_sms_sign,
                             show_codes=settings.shows_codes_in_responses),
        attachments=attachments)
    # intake's translate reads nothing but the event and its context: its messages are made
    # at commit, for the commands saved through the committer (backbone.relay)
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=publications.translate_for(
                            settings.lifecycle_topic, settings.topic("intake.replies")),
                        committer=committer)
    keyring = bus_keyring(settings)
    inbound = IdempotentConsumer(
        name="intake-bus", settings=settings, pool=infra.pool, producer=infra.producer,
        topics=[settings.topic("intake.requests")], app=app, decode=bus.decode,
        handlers=bus.handlers(BusIntake(submissions=submissions, clock=clock,
                                        verifier=auth.verifier_for(settings)),
                              keyring))

    http = _http(settings, infra)
    http.include_router(http_api.router(submissions, clock))
    fast_submit.install(http, functools.partial(http_api.submission, submissions, clock),
                        limit=settings.max_request_bytes)
    access = AccessLog(infra.pool, settings.schema)  # reads of clear personal data
    access.create()
    http.include_router(http_api.attachments_router(attachments, settings.max_attachment_bytes,
                                                    access))
    # about half an upload a submission (the pictures): served in front of FastAPI too
    fast_upload.install(http, functools.partial(http_api.uploaded, attachments,
                                                settings.max_attachment_bytes),
                        limit=settings.max_attachment_bytes + 64 * 1024)
    http.include_router(http_api.merges_router(Merges(app, index), citizens, clock, access))
    http.include_router(access_api.router(access))
    http.include_router(citizens_api.router(
        citizens, SharedRateLimits(infra.pool, settings.schema),
        settings.citizen_sign_ins_per_minute))
    http.include_router(bus_key.router(keyring))
    http.include_router(open311.router(open311.Open311(
        submissions=submissions, index=index, catalogue=load_catalogue(), clock=clock,
        verifier=auth.verifier_for(settings), jurisdiction=settings.open311_jurisdiction)))
    # the notifier's read for each SMS notice: served in front of FastAPI too
    fast_contact.install(http, functools.partial(http_api.contacts_of, citizens, access),
                         limit=4096)
    loops: list[Loop] = [relay.run, inbound.run, upload_sweep.loop(attachments)]
    if settings.intake_role == "all":
        loops += _read_side(settings, infra, app)
    return Service(settings=settings, infra=infra, http=http, loops=loops,
                   on_stop=[committer.close, app.close, submissions.reads.close])
