"""The local 3-node cluster (`make up CLUSTER=3`) has the single broker's secured listener:
SASL_PLAINTEXT with SCRAM-SHA-512 on every node, the StandardAuthorizer with ACLs, PLAINTEXT
kept for development and the fault suite (which turns SASL off). Read off the generated
server.properties (starting three brokers is the fault suite's business)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import local_files


def load_infra(monkeypatch, tmp_path: Path, **env: str):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    monkeypatch.setenv("KAFKA_CLUSTER_PORT", "45092")
    for key in ("KAFKA_CLUSTER_SASL", "KAFKA_SASL_PORT", "KAFKA_PROXY_OFFSET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return local_files.load("deploy/local/infra.py", "infra_under_test")


def properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line and not line.startswith("#"))


def test_every_node_has_a_scram_listener_and_the_authorizer(monkeypatch, tmp_path):
    infra = load_infra(monkeypatch, tmp_path)
    for node in (1, 2, 3):
        props = properties(infra.node_config(node, 3))
        port = 45092 + 300 + node - 1
        assert f"SASL_PLAINTEXT://127.0.0.1:{port}" in props["listeners"]
        assert f"PLAINTEXT://127.0.0.1:{45092 + node - 1}" in props["listeners"]
        assert f"SASL_PLAINTEXT://127.0.0.1:{port}" in props["advertised.listeners"]
        assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert props["authorizer.class.name"].endswith("StandardAuthorizer")
        assert props["allow.everyone.if.no.acl.found"] == "false"
        assert props["super.users"] == "User:ANONYMOUS"
        assert props["inter.broker.listener.name"] == "PLAINTEXT"
        assert "SASL_PLAINTEXT:SASL_PLAINTEXT" in props["listener.security.protocol.map"]
    assert infra.cluster_env(3, secure=True)["MINSHENG_KAFKA_BOOTSTRAP"] == \
        "127.0.0.1:45392,127.0.0.1:45393,127.0.0.1:45394"
    assert infra.cluster_env(3)["MINSHENG_KAFKA_BOOTSTRAP"].startswith("127.0.0.1:45092")


@pytest.mark.parametrize("off", [{"KAFKA_CLUSTER_SASL": "0"}, {"KAFKA_SASL_PORT": "0"}])
def test_the_fault_suite_s_cluster_stays_plaintext_only(monkeypatch, tmp_path, off):
    infra = load_infra(monkeypatch, tmp_path, KAFKA_PROXY_OFFSET="200", **off)
    props = properties(infra.node_config(1, 3))
    assert "SASL" not in props["listeners"] and "authorizer.class.name" not in props
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:45292"


@pytest.mark.parametrize(("heap", "buffer"), [("256m", 32 << 20), ("512m", 64 << 20),
                                              ("1g", 128 << 20)])
def test_a_node_s_log_cleaner_buffer_fits_its_heap(monkeypatch, tmp_path, heap, buffer):
    """Kafka's default dedupe buffer (128 MB, one array at start) ran a 256 MB node out of heap."""
    infra = load_infra(monkeypatch, tmp_path, KAFKA_NODE_HEAP=heap)
    assert int(properties(infra.node_config(1, 3))["log.cleaner.dedupe.buffer.size"]) == buffer
    assert infra.heap_bytes("1073741824") == 1 << 30
