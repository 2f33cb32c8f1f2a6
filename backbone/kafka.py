"""Kafka clients as the project uses them, and the catalogue of topics.

Topics: `tickets.events` (every lifecycle event, keyed by ticket id), `assignments.<unit>`
(what one unit's systems subscribe to), `tickets.dead-letter` (poison messages with the error),
the channel adapters' `intake.requests` / `intake.replies`, and `calendar.schedules` (sla's
official holiday schedules, a compacted table keyed by year, which dispatch reads whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from backbone.settings import ServiceSettings

log = logging.getLogger(__name__)

LIFECYCLE_PARTITIONS = 12
# a topic that is a table (the latest message of each key is its row): compaction keeps it
COMPACTED = {"cleanup.policy": "compact"}


def base_topics(settings: ServiceSettings) -> dict[str, int]:
    return {
        settings.lifecycle_topic: LIFECYCLE_PARTITIONS,
        settings.dead_letter_topic: 3,
        settings.topic("intake.requests"): 6,
        settings.topic("intake.replies"): 6,
        settings.topic("citizen.notices"): 6,
    }


def client_options(settings: ServiceSettings) -> dict[str, object]:
    """How every Kafka client of a service reaches the brokers: bootstrap servers and the
    wire's security (MINSHENG_KAFKA_SECURITY_PROTOCOL, _SASL_USERNAME, _SASL_PASSWORD,
    _SSL_CAFILE). PLAINTEXT is the local development listener; with SASL the service is its
    own SCRAM principal, which the brokers' ACLs confine to its topics (backbone/bus_access)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, object] = {"bootstrap_servers": settings.kafka_bootstrap,
                                  "security_protocol": protocol}
    if protocol.startswith("SASL_"):
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise ValueError(f"MINSHENG_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                             "MINSHENG_KAFKA_SASL_USERNAME and MINSHENG_KAFKA_SASL_PASSWORD")
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password)
    if protocol in ("SSL", "SASL_SSL"):
        # verifies the brokers' certificates and host names against this CA (or the system's)
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    return options


def quiet_options(settings: ServiceSettings) -> dict[str, int]:
    """What an idle AIOKafkaConsumer waits, for every consumer of the platform:
    - `fetch_max_wait_ms`: the broker answers a fetch as soon as one message arrives
      (fetch_min_bytes=1), so the wait only bounds an idle long poll. aiokafka's 500 ms cost
      an idle consumer 2 fetch round trips a second, most of an idle service's CPU (py-spy).
    - `consumer_timeout_ms`: the background fetcher's own round when nothing it waits for
      happened. aiokafka's 200 ms woke an idle consumer five times a second (a census of an
      idle service's timers: its largest source of wake-ups); everything that needs a round
      (a fetch answered, a seek, a batch taken, a rebalance, stale metadata) wakes it anyway."""
    return {"fetch_max_wait_ms": settings.consumer_fetch_max_wait_ms,
            "consumer_timeout_ms": settings.consumer_fetcher_timeout_ms}


def pace_fetches(consumer: Any, gather: tuple[int, int] | None, flowing: bool,
                 gathering: bool, idle_wait_ms: int) -> bool:
    """For a consumer nobody waits on: while events flow the broker answers a fetch once it
    holds `gather` (bytes, ms), so a batch (one fetch, one transaction) holds many events, not
    one or two; once a poll found nothing, back to answering at the first byte with the idle
    long poll (`quiet_options`): gathering while idle meant an empty fetch every `gather[1]` ms.
    The fetcher builds each request from these two fields (aiokafka 0.14, pinned); the next
    fetch uses them. Returns whether the consumer gathers now."""
    if gather is None or flowing == gathering:
        return gathering
    fetcher: Any = getattr(consumer, "_fetcher", None)
    if fetcher is None:
        return gathering
    if flowing:
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = gather
    else:
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = 1, idle_wait_ms
    return flowing


async def poll_or_stop(consumer: Any, stop: asyncio.Event, timeout_s: float,
                       max_records: int | None = None) -> dict[Any, list[Any]]:
    """One `getmany` of up to `timeout_s` that a message ends at once and `stop` cuts short
    (then: nothing), so a consumer with nothing to read wakes once in `timeout_s`, not once a
    poll of a second or two, and still stops at once."""
    poll = asyncio.ensure_future(consumer.getmany(timeout_ms=int(timeout_s * 1000),
                                                  max_records=max_records))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
    return {} if poll.cancelled() else poll.result()


def faust_credentials(settings: ServiceSettings) -> object | None:
    """The same wire security for a faust app (`broker_credentials`); None for PLAINTEXT."""
    options = client_options(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    import faust  # (only analytics' surge worker runs faust)

    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])  # type: ignore[arg-type]
    return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                 password=settings.kafka_sasl_password,
                                 mechanism=settings.kafka_sasl_mechanism,
                                 ssl_context=options.get("ssl_context"))  # type: ignore[arg-type]


def make_producer(settings: ServiceSettings, **overrides: object) -> AIOKafkaProducer:
    """Idempotent producer with acks=all: a retried send never duplicates or reorders."""
    options: dict[str, object] = {
        **client_options(settings),
        "client_id": f"minsheng-{settings.service}",
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 1 << 20,
        "request_timeout_ms": 30000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)  # type: ignore[arg-type]


def new_topic(settings: ServiceSettings, name: str, partitions: int,
              configs: dict[str, str] | None = None) -> NewTopic:
    """A topic as this platform creates it. `min.insync.replicas` is the topic's own, so an
    acknowledged send (acks=all) is on that many brokers whatever the brokers' default.
    `configs`: more of the topic's own settings (e.g. COMPACTED)."""
    return NewTopic(name=name, num_partitions=partitions,
                    replication_factor=settings.kafka_replication_factor,
                    topic_configs={"min.insync.replicas": str(settings.kafka_min_insync_replicas),
                                   **(configs or {})})


async def ensure_topics(settings: ServiceSettings, topics: dict[str, int],
                        configs: dict[str, str] | None = None) -> None:
    """Create the topics that do not exist yet (idempotent; safe when several race), with
    the replication factor and `min.insync.replicas` of the settings, and `configs` (for
    each of them: e.g. COMPACTED). A topic that exists is left as it is."""
    admin = AIOKafkaAdminClient(**client_options(settings),  # type: ignore[arg-type]
                                client_id=f"minsheng-{settings.service}-admin")
    try:
        await admin.start()  # (inside: a broker that does not answer leaves no client open)
        existing = set(await admin.list_topics())
        missing = [new_topic(settings, t, n, configs) for t, n in topics.items()
                   if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", [t.name for t in missing])
            await _await_leaders(admin, {t.name: t.num_partitions for t in missing})
    finally:
        await admin.close()


async def drop_topics(settings: ServiceSettings) -> None:
    """Delete every topic under the settings' topic prefix (and their dead-letter and
    internal topics that carry it): for throw-away prefixes of benchmarks and tools."""
    admin = AIOKafkaAdminClient(**client_options(settings),  # type: ignore[arg-type]
                                client_id=f"minsheng-{settings.service}-admin")
    await admin.start()
    try:
        prefix = settings.topic_prefix
        mine = [t for t in await admin.list_topics()
                if t.startswith(prefix) or prefix.rstrip(".") in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def _await_leaders(admin: AIOKafkaAdminClient, topics: dict[str, int],
                         timeout_s: float = 30) -> None:
    """Wait until every new topic's partitions have a leader in the metadata. A consumer that
    subscribes before the broker publishes that metadata is assigned nothing and stays idle
    until its next metadata refresh."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(list(topics))
        ready = {t["topic"] for t in described if t["error_code"] == 0
                 and len([p for p in t["partitions"] if p["leader"] >= 0]) >= topics[t["topic"]]}
        if ready >= set(topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            log.warning("topics %s have no leader after %ss", sorted(set(topics) - ready),
                        timeout_s)
            return
        await asyncio.sleep(0.2)
