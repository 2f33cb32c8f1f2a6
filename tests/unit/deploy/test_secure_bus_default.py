"""`make up` puts the services on the secured Kafka listener by default (SECURE_BUS=auto) when
the broker has a provisioned one, and on PLAINTEXT otherwise; 1 insists, 0 refuses."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from backbone import bus_access
from tests import local_files


def load_services(monkeypatch, tmp_path: Path, port: int):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    monkeypatch.setenv("KAFKA_SASL_PORT", str(port))
    monkeypatch.delenv("MINSHENG_LOCAL_CLUSTER", raising=False)
    return local_files.load("deploy/local/services.py", "services_under_test")


def write_passwords(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(parents=True, exist_ok=True)
    (tmp_path / "keys" / "kafka-users.json").write_text(json.dumps(
        {bus_access.service_principal(s): "pw" for s in bus_access.SERVICES}))


def test_auto_takes_a_provisioned_secured_listener(monkeypatch, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        services = load_services(monkeypatch, tmp_path, port)
        write_passwords(tmp_path)
        assert services.secure_bus({"MINSHENG_LOCAL_SECURE_BUS": "auto"})
        env = services.service_env("dispatch", {"MINSHENG_LOCAL_SECURE_BUS": "auto"})
        assert env["MINSHENG_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["MINSHENG_KAFKA_SASL_USERNAME"] == "minsheng-dispatch"
        assert env["MINSHENG_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{port}"
        assert "MINSHENG_KAFKA_SASL_USERNAME" not in services.service_env(
            "identity", {"MINSHENG_LOCAL_SECURE_BUS": "auto"})  # identity never uses the bus


def test_auto_falls_back_to_plaintext_without_a_listener_or_passwords(monkeypatch, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    services = load_services(monkeypatch, tmp_path, closed)
    write_passwords(tmp_path)
    assert not services.secure_bus({"MINSHENG_LOCAL_SECURE_BUS": "auto"})
    env = services.service_env("dispatch", {"MINSHENG_LOCAL_SECURE_BUS": "auto"})
    assert "MINSHENG_KAFKA_SECURITY_PROTOCOL" not in env
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        unprovisioned = load_services(monkeypatch, tmp_path / "empty", listener.getsockname()[1])
        assert not unprovisioned.secure_bus({"MINSHENG_LOCAL_SECURE_BUS": "auto"})


def test_one_insists_zero_and_unset_keep_plaintext(monkeypatch, tmp_path):
    services = load_services(monkeypatch, tmp_path, 1)
    assert services.secure_bus({"MINSHENG_LOCAL_SECURE_BUS": "1"})
    assert not services.secure_bus({"MINSHENG_LOCAL_SECURE_BUS": "0"})
    assert not services.secure_bus({})  # the suites that start services themselves
