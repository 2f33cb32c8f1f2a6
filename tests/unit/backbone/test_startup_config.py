"""A service started with a value it cannot run on, or before its PostgreSQL or Kafka answers,
says why in one structured line, not in a traceback: an operator's mistyped port (99999 listened
quietly on 34463), clock or log level; an unreachable database waited for, then named."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from backbone import runtime
from backbone.settings import ServiceSettings
from services.sla.settings import SlaSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("values", "named"), [
    ({"http_port": 99999}, "MINSHENG_HTTP_PORT=99999 is not a port"),
    ({"grpc_port": -1}, "MINSHENG_GRPC_PORT=-1 is not a port"),
    ({"pg_port": 0}, "MINSHENG_PG_PORT=0 is not a port"),
    ({"clock": "evnt"}, "MINSHENG_CLOCK must be wall or event"),
    ({"log_level": "loud"}, "MINSHENG_LOG_LEVEL must be"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "needs MINSHENG_KAFKA_SASL_USERNAME"),
    ({"kafka_ssl_cafile": "/no/such/ca.pem"}, "MINSHENG_KAFKA_SSL_CAFILE='/no/such/ca.pem'"),
    ({"tls_cert_file": __file__}, "TLS needs both"),
])
def test_a_value_no_service_can_run_on_is_refused_by_name(values, named) -> None:
    with pytest.raises(ValidationError, match=named):
        SlaSettings(environment="development", **values)


def test_the_port_of_a_service_of_its_own_is_checked_too() -> None:
    """(services redeclare http_port with their own default)"""
    with pytest.raises(ValidationError, match="MINSHENG_HTTP_PORT=70000"):
        SlaSettings(environment="development", http_port=70000)


def test_a_lower_case_log_level_is_the_level() -> None:
    assert ServiceSettings(environment="development", log_level="debug").log_level == "DEBUG"


def _start(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MINSHENG_")}
    environ.update(PYTHONPATH=f"{ROOT}:{ROOT / 'proto'}", MINSHENG_ENVIRONMENT="development",
                   MINSHENG_TOPIC_PREFIX="startup-config-test.", **env)
    return subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)


def test_a_service_started_on_a_bad_value_says_so_in_one_line() -> None:
    done = _start("sla", MINSHENG_HTTP_PORT="abc", MINSHENG_PG_POOL_SIZE="many")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    [line] = done.stderr.splitlines()
    said = json.loads(line)
    assert said["level"] == "error" and said["service"] == "sla"
    assert "MINSHENG_HTTP_PORT='abc'" in said["msg"], said
    assert "MINSHENG_PG_POOL_SIZE='many'" in said["msg"], said


def test_a_secret_is_not_repeated_when_refused() -> None:
    done = _start("sla", MINSHENG_TOKEN_TTL_S="s3cret-ttl", MINSHENG_PG_PASSWORD="pw")
    assert done.returncode == 2
    assert "MINSHENG_TOKEN_TTL_S" in done.stderr and "s3cret-ttl" not in done.stderr


def test_a_database_that_does_not_answer_is_named_in_one_line_not_a_traceback() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _start("sla", MINSHENG_PG_PORT=str(port), MINSHENG_STARTUP_WAIT_S="0",
                  MINSHENG_HTTP_PORT="1")
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in output
    errors = [json.loads(line) for line in output.splitlines()
              if line.startswith("{") and json.loads(line)["level"] == "error"]
    assert [e["msg"] for e in errors if e["logger"] == "backbone.runtime"] == [
        f"cannot start: PostgreSQL at 127.0.0.1:{port} did not answer within 0 s: "
        + errors[-1]["msg"].split(" within 0 s: ", 1)[1]]
    assert "Connection refused" in errors[-1]["msg"]


def test_infrastructure_late_to_start_is_waited_for(monkeypatch, caplog) -> None:
    monkeypatch.setattr(runtime, "STARTUP_RETRY_S", 0.01)
    tries = []

    async def attempt() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise psycopg.OperationalError("connection refused\n\tIs the server running?")
        return "connected"

    settings = ServiceSettings(environment="test", startup_wait_s=5)
    with caplog.at_level(logging.WARNING, logger="backbone.runtime"):
        got = asyncio.run(runtime.reachable(settings, "PostgreSQL at h:1", attempt))
    assert got == "connected" and len(tries) == 3
    said = [r.getMessage() for r in caplog.records if r.name == "backbone.runtime"]
    assert said == ["waiting for PostgreSQL at h:1: connection refused Is the server "
                    "running? (trying again in 0 s)"] * 2


def test_an_operator_command_whose_database_does_not_answer_says_so_in_one_line() -> None:
    """`python -m services.identity users list` (audit verify, analytics rebuild alike)
    ended in psycopg's traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MINSHENG_")}
    environ.update(PYTHONPATH=f"{ROOT}:{ROOT / 'proto'}", MINSHENG_ENVIRONMENT="development",
                   MINSHENG_PG_PORT=str(port))
    done = subprocess.run([sys.executable, "-m", "services.identity", "users", "list"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("PostgreSQL did not answer: ") and str(port) in line


def test_a_mistyped_variable_is_named_at_start(monkeypatch, capsys) -> None:
    """MINSHENG_HTTP_PROT=8000 was ignored without a word (the service on its default port);
    another service's setting (one ConfigMap for all) is no typo."""
    from backbone.settings import load, unknown_variables

    assert unknown_variables({
        "MINSHENG_HTTP_PROT": "8000", "MINSHENG_HTTP_PORT": "8000", "PATH": "/bin",
        "MINSHENG_INTAKE_SMS_URL": "https://sms", "MINSHENG_SLA_GATHER_MS": "300",
        "MINSHENG_LOCAL_SECURE_BUS": "auto", "MINSHENG_DATA": "/data"}) == ["MINSHENG_HTTP_PROT"]
    monkeypatch.setenv("MINSHENG_HTTP_PROT", "8000")
    monkeypatch.setenv("MINSHENG_ENVIRONMENT", "development")
    assert load(SlaSettings).http_port == 8103
    said = json.loads(capsys.readouterr().err.strip())
    assert said["level"] == "warning" and "MINSHENG_HTTP_PROT" in said["msg"]


def test_a_token_key_file_that_cannot_be_read_is_named_in_development_too(tmp_path) -> None:
    """(production said so; development died in build with a bare JSONDecodeError)"""
    not_jwks = tmp_path / "hostname"
    not_jwks.write_text("vm\n")
    with pytest.raises(ValidationError, match="MINSHENG_TOKEN_PUBLIC_KEYS cannot be read"):
        SlaSettings(environment="development", token_public_keys=str(not_jwks))


def test_a_service_that_fails_to_build_says_why_in_one_structured_line(capsys) -> None:
    """A key file missing, a malformed secret: a bare traceback on stderr, which no log
    collector reads as one record; now one error line, the traceback in its "error"."""
    import binascii

    async def build(settings):
        raise binascii.Error("Invalid base64-encoded string: number of data characters (9)")

    settings = ServiceSettings(environment="test", service="intake", event_loop="asyncio")
    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        with pytest.raises(SystemExit) as exited:
            runtime.run(build, settings)  # (logs.configure: JSON lines on stdout)
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    assert exited.value.code == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    [line] = out.out.splitlines()
    said = json.loads(line)
    assert said["service"] == "intake" and said["level"] == "error"
    assert said["msg"] == ("cannot start: Error: Invalid base64-encoded string: number of data "
                           "characters (9)")
    assert said["error"].startswith("Traceback")
