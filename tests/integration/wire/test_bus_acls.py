"""The secured bus: a broker started by deploy/local/infra.py's own code (in a folder of its own,
on free ports, beside the shared one) with its SASL_PLAINTEXT and SASL_SSL listeners, the
principals and ACLs of tools/bus_security.py, a throw-away CA for TLS. Clients try what they
must not (a unit reads another unit's topic, writes or reads the lifecycle, a wrong password,
an untrusted certificate) and are refused; services' principals do their jobs through
backbone.kafka's client options."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from backbone import bus_access
from backbone.kafka import base_topics, client_options, ensure_topics, make_producer, new_topic
from backbone.settings import ServiceSettings
from tests import throwaway_ca
from tools import bus_security

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
UNITS = ("yingzhou", "taihe")
PREFIX = "acl."


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Broker:
    def __init__(self, folder: Path):
        self.folder = folder
        self.certs = throwaway_ca.make(folder / "tls")
        self.plain, self.controller, self.sasl, self.ssl = _free_ports(4)
        self.passwords = {p: secrets.token_urlsafe(18)
                          for p in bus_access.plan(list(UNITS), PREFIX).principals()}
        self.env = {**os.environ, "MINSHENG_DATA": str(folder / "data"),
                    "MINSHENG_KAFKA_LIBS": str(ROOT / ".data/kafka/libs"),
                    "MINSHENG_LOCAL_CLUSTER": "0", "KAFKA_HEAP": "384m",
                    "KAFKA_PORT": str(self.plain), "KAFKA_CONTROLLER_PORT": str(self.controller),
                    "KAFKA_SASL_PORT": str(self.sasl), "KAFKA_SSL_PORT": str(self.ssl),
                    "KAFKA_TLS_CERT_FILE": str(self.certs.cert_file),
                    "KAFKA_TLS_KEY_FILE": str(self.certs.key_file)}

    def infra(self, command: str) -> None:
        subprocess.run([sys.executable, str(ROOT / "deploy/local/infra.py"), command],
                       env=self.env, check=True, timeout=180, stdout=subprocess.DEVNULL)

    def settings(self, principal: str = "", *, tls: bool = False, password: str = "",
                 **more: object) -> ServiceSettings:
        if not principal:
            return ServiceSettings(environment="test", kafka_bootstrap=f"127.0.0.1:{self.plain}",
                                   topic_prefix=PREFIX, **more)
        return ServiceSettings(
            environment="test", topic_prefix=PREFIX,
            kafka_bootstrap=f"127.0.0.1:{self.ssl if tls else self.sasl}",
            kafka_security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
            kafka_sasl_username=principal,
            kafka_sasl_password=password or self.passwords[principal],
            kafka_ssl_cafile=str(self.certs.ca_file) if tls else "", **more)


@pytest.fixture(scope="module")
def broker():
    if not any((ROOT / ".data/kafka/libs").glob("kafka_2.13-*.jar")):
        pytest.fail("Kafka's jars are not under .data/kafka/libs: run `make infra` first")
    folder = Path(tempfile.mkdtemp(prefix="minsheng-acl-"))
    b = Broker(folder)
    try:
        b.infra("kafka-up")
        admin = bus_security.admin_options(f"127.0.0.1:{b.plain}")
        done = bus_security.provision(admin, bus_access.plan(list(UNITS), PREFIX), b.passwords)
        assert done["principals"] == len(b.passwords)
        asyncio.run(_make_topics(b))
        yield b
    finally:
        try:
            b.infra("kafka-down")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


async def _make_topics(b: Broker) -> None:
    """As the administrator: the base topics and the units' assignments topics."""
    settings = b.settings()
    topics = {**base_topics(settings), **{settings.assignment_topic(u): 1 for u in UNITS}}
    await ensure_topics(settings, topics)


async def _produce(settings: ServiceSettings, topic: str, value: bytes) -> None:
    producer = make_producer(settings, request_timeout_ms=8000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), 20)
    finally:
        await producer.stop()


async def _read(settings: ServiceSettings, topic: str, *, group: str | None = None,
                want: bytes | None = None) -> list[bytes]:
    """Read `topic` from the start (as a group member, or by assignment) until `want` shows."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group,  # type: ignore[arg-type]
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                request_timeout_ms=8000)
    await consumer.start()
    try:
        if group:
            consumer.subscribe([topic])
        else:
            consumer.assign([TopicPartition(topic, 0)])
        seen: list[bytes] = []
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            seen += [r.value for records in batch.values() for r in records]
            if want is not None and want in seen:
                break
            # aiokafka logs a refused topic and keeps trying; the broker's answer is here
            if topic in consumer._client.cluster.unauthorized_topics:
                raise TopicAuthorizationFailedError(topic)
        return seen
    finally:
        await consumer.stop()


# a producer with no WRITE anywhere is refused its producer id (ClusterAuthorization)
REFUSED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError,
           ClusterAuthorizationFailedError)


async def test_a_service_principal_does_its_job(broker):
    """dispatch writes the lifecycle and a unit's topic; the unit reads its own topic; intake
    creates/describes the base topics at start and consumes the lifecycle in its own group."""
    dispatch = broker.settings(bus_access.service_principal("dispatch"))
    marker = secrets.token_hex(6).encode()
    await _produce(dispatch, dispatch.lifecycle_topic, marker)
    await _produce(dispatch, dispatch.assignment_topic("yingzhou"), marker)

    unit = broker.settings(bus_access.unit_principal("yingzhou"))
    assert marker in await _read(unit, unit.assignment_topic("yingzhou"), want=marker)
    assert marker in await _read(unit, unit.assignment_topic("yingzhou"),
                                 group=unit.group("unit-yingzhou_desk"), want=marker)

    intake = broker.settings(bus_access.service_principal("intake"))
    await ensure_topics(intake, base_topics(intake))  # what every service does at start
    assert marker in await _read(intake, intake.lifecycle_topic,
                                 group=intake.group("intake-lifecycle"), want=marker)


async def test_a_unit_cannot_read_another_units_topic(broker):
    admin = broker.settings()
    marker = secrets.token_hex(6).encode()
    await _produce(admin, admin.assignment_topic("taihe"), marker)
    unit = broker.settings(bus_access.unit_principal("yingzhou"))
    with pytest.raises(REFUSED):
        await _read(unit, unit.assignment_topic("taihe"), want=marker)
    with pytest.raises(REFUSED):
        await _read(unit, unit.assignment_topic("taihe"), group=unit.group("unit-yingzhou"),
                    want=marker)


async def test_a_unit_cannot_join_a_sub_units_consumer_group(broker):
    """A unit's groups are its code's own (`unit-<code>`, `unit-<code>_…`): the county's
    principal may not join its sub-district's group (`unit-yingzhou.xihu…`), which once let
    it take that group's partitions away from the sub-district's system."""
    admin = broker.settings()
    marker = secrets.token_hex(6).encode()
    await _produce(admin, admin.assignment_topic("yingzhou"), marker)
    county = broker.settings(bus_access.unit_principal("yingzhou"))
    for theirs in ("unit-yingzhou.xihu", "unit-yingzhou.xihu_case-system",
                   "unit-yingzhou-desk"):
        with pytest.raises(REFUSED):
            await _read(county, county.assignment_topic("yingzhou"),
                        group=county.group(theirs), want=marker)


async def test_a_unit_cannot_read_or_write_the_lifecycle(broker):
    unit = broker.settings(bus_access.unit_principal("yingzhou"))
    with pytest.raises(REFUSED):
        await _read(unit, unit.lifecycle_topic)
    with pytest.raises(REFUSED):
        await _produce(unit, unit.lifecycle_topic, b"forged")
    with pytest.raises(REFUSED):  # nor its own topic: it only reads
        await _produce(unit, unit.assignment_topic("yingzhou"), b"forged")


async def test_services_write_only_their_own_topics(broker):
    intake = broker.settings(bus_access.service_principal("intake"))
    with pytest.raises(REFUSED):
        await _produce(intake, intake.assignment_topic("yingzhou"), b"not intake's")
    workbench = broker.settings(bus_access.service_principal("workbench"))
    with pytest.raises(REFUSED):
        await _produce(workbench, workbench.lifecycle_topic, b"not the workbench's")
    adapters = broker.settings(bus_access.ADAPTERS_PRINCIPAL)
    with pytest.raises(REFUSED):
        await _read(adapters, adapters.lifecycle_topic)
    with pytest.raises(REFUSED):  # a group that is not its own
        await _read(intake, intake.lifecycle_topic, group=intake.group("dispatch-lifecycle"))


async def test_no_principal_can_make_itself_more(broker):
    """A service may not create ACLs or users: only the administrator can."""
    intake = bus_access.service_principal("intake")
    options = bus_security.admin_options(f"127.0.0.1:{broker.sasl}", "SASL_PLAINTEXT", intake,
                                         broker.passwords[intake])
    grant = bus_access.Grant(intake, "topic", PREFIX + "assignments.", "READ", True)
    with pytest.raises(RuntimeError, match="ACLs refused"):
        await asyncio.to_thread(bus_security.provision, options,
                                bus_access.Plan(PREFIX, [grant]), broker.passwords)


async def test_a_wrong_password_is_refused(broker):
    settings = broker.settings(bus_access.service_principal("dispatch"), password="guess")
    with pytest.raises(KafkaError):
        await _produce(settings, settings.lifecycle_topic, b"x")


async def test_plaintext_without_a_principal_reaches_no_secured_listener(broker):
    settings = ServiceSettings(environment="test", kafka_bootstrap=f"127.0.0.1:{broker.sasl}")
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=5000)  # type: ignore[arg-type]
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 20)
    await producer.stop()


async def test_sasl_ssl_with_the_ca(broker):
    """TLS from certificate files: a client trusting the throw-away CA works; one that trusts
    only the system's CAs is refused at the handshake."""
    sla = broker.settings(bus_access.service_principal("sla"), tls=True)
    marker = secrets.token_hex(6).encode()
    await _produce(sla, sla.assignment_topic("taihe"), marker)
    unit = broker.settings(bus_access.unit_principal("taihe"), tls=True)
    assert marker in await _read(unit, unit.assignment_topic("taihe"), want=marker)

    untrusting = sla.model_copy(update={"kafka_ssl_cafile": ""})
    admin = AIOKafkaAdminClient(**client_options(untrusting), request_timeout_ms=5000)  # type: ignore[arg-type]
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(admin.start(), 20)
    await admin.close()


async def test_the_development_listener_is_unchanged(broker):
    """PLAINTEXT (19092 on the shared broker) stays what the test suite and `make up` use."""
    settings = broker.settings()
    marker = secrets.token_hex(6).encode()
    await ensure_topics(settings, {settings.topic("plain.check"): 1})
    await _produce(settings, settings.topic("plain.check"), marker)
    assert marker in await _read(settings, settings.topic("plain.check"),
                                 group=settings.group("anything"), want=marker)
    assert new_topic(settings, "x", 1).replication_factor == 1


def test_the_platform_runs_on_its_principals(broker, infra):
    """Every service on the SASL listener as its own principal (PostgreSQL shared, as usual):
    all become ready, and a request submitted to intake is routed by dispatch and lands in
    audit's ledger, so each one's ACLs are enough for its job."""
    import httpx

    from tests.integration.wire.platform import Platform
    from tests.waiting import eventually

    platform = Platform()
    prefix = f"fz{platform.id}."
    admin = bus_security.admin_options(f"127.0.0.1:{broker.plain}")
    bus_security.provision(admin, bus_access.plan(list(UNITS), prefix), broker.passwords)
    for service in bus_access.SERVICES:
        principal = bus_access.service_principal(service)
        platform.extra_env[service] = {
            "MINSHENG_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker.sasl}",
            "MINSHENG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "MINSHENG_KAFKA_SASL_USERNAME": principal,
            "MINSHENG_KAFKA_SASL_PASSWORD": broker.passwords[principal]}
    try:
        platform.start()
        body = {"channel": "web", "request_id": secrets.token_hex(8), "title": "市民反映",
                "body": "颍泉区中市街道幸福里小区，附近工地渣土车不盖篷布，沿路撒落泥土。"}
        with httpx.Client(base_url=platform.url("intake"), timeout=30, headers={
                "authorization": f"Bearer {platform.token('channel_adapter')}"}) as c:
            answer = c.post("/v1/requests", json=body)
        assert answer.status_code in (200, 201), answer.text
        code = answer.json()["code"]

        def producers_in_ledger() -> set[str]:
            with httpx.Client(base_url=platform.url("audit"), timeout=10, headers={
                    "authorization": f"Bearer {platform.token('auditor')}"}) as c:
                r = c.get(f"/v1/tickets/{code}/history")
            if r.status_code != 200:
                return set()
            entries = r.json()["entries"] if isinstance(r.json(), dict) else r.json()
            return {(e.get("envelope") or {}).get("producer", "") for e in entries}

        found = eventually(lambda: {"intake", "dispatch"} <= producers_in_ledger() or None,
                           timeout=90)
        assert found
        _surge_worker_gets_ready(platform, broker.folder)
    finally:
        platform.stop()


def _surge_worker_gets_ready(platform, folder: Path) -> None:
    """analytics' faust worker as minsheng-analytics: its topics, changelogs and group."""
    import httpx

    from tests.integration.wire.platform import free_port
    from tests.waiting import eventually

    port = free_port()
    env = {**platform.env("analytics"), "MINSHENG_SURGES_HTTP_PORT": str(port),
           "MINSHENG_SURGES_DATADIR": str(folder / "faust")}
    log = platform.log("analytics-surges")
    worker = subprocess.Popen([sys.executable, "-m", "services.analytics.entrypoints.surges"],
                              cwd=ROOT, env=env, stdout=open(log, "ab"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            assert worker.poll() is None, platform.tail("analytics-surges")
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200

        assert eventually(ready, timeout=120, what="the surge worker on its principal")
    finally:
        os.killpg(worker.pid, 15)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
