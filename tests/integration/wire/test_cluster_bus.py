"""The local 3-node cluster's secured listener for real: deploy/local/infra.py starts three
KRaft nodes (in a folder of its own, on free ports, beside the shared broker) with their
SASL_PLAINTEXT listeners and the authorizer, and provisions every principal when the cluster
is up. A service's principal writes its topic through all three nodes' SASL ports; a unit may
not read another unit's topic; a wrong password is refused; PLAINTEXT still works."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

from backbone import bus_access
from backbone.kafka import ensure_topics
from backbone.settings import ServiceSettings
from tests.chaos.platform import _alive, _ours
from tests.integration.wire.test_bus_acls import REFUSED, _produce, _read
from tests.kafka_nodes import node_logs
from tests.waiting import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
OFFSETS = (0, 1, 2, 100, 101, 102, 300, 301, 302)  # brokers, controllers, SASL listeners


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base() -> int:
    for _ in range(200):
        base = 20000 + secrets.randbelow(120) * 100  # below the ephemeral range (32768)
        if all(_free(base + o) for o in OFFSETS):
            return base
    pytest.fail("no free port block for a 3-node cluster")


class Cluster:
    def __init__(self, folder: Path):
        self.base = _free_base()
        self.env = {**os.environ, "MINSHENG_DATA": str(folder / "data"),
                    "MINSHENG_KAFKA_LIBS": str(ROOT / ".data/kafka/libs"),
                    "MINSHENG_LOCAL_CLUSTER": "3", "KAFKA_CLUSTER_PORT": str(self.base),
                    "KAFKA_NODE_HEAP": "256m", "KAFKA_PROXY_OFFSET": "0",
                    "KAFKA_SASL_PORT": "19094", "KAFKA_CLUSTER_SASL": "1",
                    "MINSHENG_TOPIC_PREFIX": ""}
        self.env.pop("MINSHENG_KAFKA_BOOTSTRAP", None)
        self.passwords_file = folder / "data" / "keys" / "kafka-users.json"

    def infra(self, *command: str) -> None:
        subprocess.run([sys.executable, str(ROOT / "deploy/local/infra.py"), *command],
                       env=self.env, check=True, timeout=400, stdout=subprocess.DEVNULL)

    def settings(self, principal: str = "", password: str = "") -> ServiceSettings:
        plain = ",".join(f"127.0.0.1:{self.base + i}" for i in range(3))
        if not principal:
            return ServiceSettings(environment="test", kafka_bootstrap=plain)
        passwords = json.loads(self.passwords_file.read_text())
        return ServiceSettings(
            environment="test",
            kafka_bootstrap=",".join(f"127.0.0.1:{self.base + 300 + i}" for i in range(3)),
            kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username=principal,
            kafka_sasl_password=password or passwords[principal])


def _nodes_down(c: Cluster) -> None:
    """SIGKILL every node of the cluster (found by its folder on their command lines, pid file
    or not): the test does not test their shutdown, and their folder is deleted next. Stopped
    with SIGTERM one at a time (`infra.py node-down`, a controlled shutdown of a quorum that is
    leaving), they took 37 s of every run's teardown."""
    marker = str(Path(c.env["MINSHENG_DATA"]) / "kafka" / "cluster")
    nodes = [int(p.name) for p in Path("/proc").glob("[0-9]*") if _ours(int(p.name), marker)]
    for pid in nodes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    eventually(lambda: not any(map(_alive, nodes)), timeout=30, interval=0.05,
               what="the cluster's nodes are gone")


@pytest.fixture(scope="module")
def cluster():
    if not any((ROOT / ".data/kafka/libs").glob("kafka_2.13-*.jar")):
        pytest.fail("Kafka's jars are not under .data/kafka/libs: run `make infra` first")
    folder = Path(tempfile.mkdtemp(prefix="minsheng-cluster-acl-"))
    c = Cluster(folder)
    try:
        # starts the three nodes, then provisions users and ACLs. A node that exits while the
        # cluster starts (seen twice in full CI runs on 2026-12-06, never alone) is the
        # setting-up of this test, not what it tests: once more on fresh ports and a fresh
        # folder, saying what the nodes logged; a second failure fails with it
        try:
            c.infra("kafka-up")
        except subprocess.CalledProcessError:
            said = node_logs(folder / "data")
            print(f"the 3-node cluster did not start; once more. The nodes said:\n{said}",
                  file=sys.stderr)
            _nodes_down(c)
            shutil.rmtree(folder / "data", ignore_errors=True)
            c = Cluster(folder)
            try:
                c.infra("kafka-up")
            except subprocess.CalledProcessError:
                pytest.fail(f"the 3-node cluster did not start twice:\n{said}\n"
                            f"second time:\n{node_logs(folder / 'data')}")
        assert c.passwords_file.exists(), "the cluster was not provisioned"
        yield c
    finally:
        try:
            _nodes_down(c)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


async def test_the_cluster_s_scram_listener_holds_principals_to_their_acls(cluster):
    admin = cluster.settings()
    await ensure_topics(admin, {admin.lifecycle_topic: 1, admin.assignment_topic("yingzhou"): 1,
                                admin.assignment_topic("taihe"): 1})
    dispatch = cluster.settings(bus_access.service_principal("dispatch"))
    marker = secrets.token_hex(6).encode()
    await _produce(dispatch, dispatch.lifecycle_topic, marker)
    await _produce(dispatch, dispatch.assignment_topic("yingzhou"), marker)
    await _produce(dispatch, dispatch.assignment_topic("taihe"), marker)
    unit = cluster.settings(bus_access.unit_principal("yingzhou"))
    assert marker in await _read(unit, unit.assignment_topic("yingzhou"), want=marker)
    with pytest.raises(REFUSED):
        await _read(unit, unit.assignment_topic("taihe"), want=marker)
    with pytest.raises(REFUSED):
        await _produce(unit, unit.lifecycle_topic, b"forged")
    with pytest.raises(KafkaError):
        await _produce(cluster.settings(bus_access.service_principal("dispatch"),
                                        password="wrong-password"), dispatch.lifecycle_topic,
                       b"x")
    assert marker in await _read(admin, admin.lifecycle_topic, want=marker)  # PLAINTEXT
