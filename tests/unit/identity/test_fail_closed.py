"""Fail closed: without MINSHENG_ENVIRONMENT a service is production, and production refuses to
start on development keys and secrets, missing keys or a missing SMS gateway, naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from backbone import auth
from backbone.settings import ServiceSettings
from services.feedback.settings import FeedbackSettings
from services.identity.settings import IdentitySettings
from services.intake.settings import IntakeSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def encrypted_bus(monkeypatch):
    """Production's bus is SASL_SSL (refused otherwise: its own test below)."""
    monkeypatch.setenv("MINSHENG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MINSHENG_KAFKA_SASL_USERNAME", "minsheng-test")  # (as its principal)
    monkeypatch.setenv("MINSHENG_KAFKA_SASL_PASSWORD", "not-a-real-password")


@pytest.fixture
def production_keys(tmp_path: Path) -> dict[str, str]:
    """Keys a real deployment would make: `python -m backbone.auth keygen` and `jwks`."""
    staff = auth.keygen(tmp_path, "identity-2027a")
    citizen = auth.keygen(tmp_path, "citizen-2027a")
    links = auth.keygen(tmp_path, "rating-link-2027a")
    auth.write_jwks(tmp_path / "jwks.json", [staff, citizen, links])
    return {"token_public_keys": str(tmp_path / "jwks.json"), "staff": str(staff),
            "citizen": str(citizen), "rating_links": str(links)}


def refusal(make) -> str:
    with pytest.raises(ValidationError) as caught:
        make()
    return str(caught.value)


def test_without_an_environment_a_service_is_production_and_names_the_missing_keys(monkeypatch):
    monkeypatch.delenv("MINSHENG_ENVIRONMENT", raising=False)
    message = refusal(lambda: ServiceSettings(service="dispatch"))
    assert "dispatch refuses to start in production" in message
    assert "MINSHENG_TOKEN_PUBLIC_KEYS is not set" in message


def test_production_refuses_development_keys_simulation_time_and_unknown_environments():
    jwks = auth.ensure_dev_keys()
    message = refusal(lambda: ServiceSettings(environment="production", token_public_keys=str(
        jwks), clock="event"))
    assert "development keys ['identity-dev', 'citizen-dev', 'rating-link-dev']" in message
    assert "MINSHENG_CLOCK=event" in message
    signing = refusal(lambda: IdentitySettings(
        environment="production", token_public_keys=str(jwks),
        token_signing_key=str(jwks.parent / "identity-dev.pem")))
    assert "MINSHENG_TOKEN_SIGNING_KEY is a development key" in signing
    assert "must be development, test or production" in refusal(
        lambda: ServiceSettings(environment="prod"))
    missing = refusal(lambda: ServiceSettings(environment="production",
                                              token_public_keys="/nonexistent/jwks.json"))
    assert "MINSHENG_TOKEN_PUBLIC_KEYS cannot be read" in missing


def test_intake_in_production_names_every_missing_secret_and_the_sms_gateway(production_keys):
    message = refusal(lambda: IntakeSettings(
        environment="production", token_public_keys=production_keys["token_public_keys"]))
    for name in ("MINSHENG_PSEUDONYM_PEPPER", "MINSHENG_IDENTITY_MASTER_KEY",
                 "MINSHENG_CITIZEN_SIGNING_KEY is not set", "MINSHENG_INTAKE_SMS_URL is not set"):
        assert name in message
    ready = IntakeSettings(
        environment="production", token_public_keys=production_keys["token_public_keys"],
        citizen_signing_key=production_keys["citizen"], pseudonym_pepper="p" * 40,
        identity_master_key="QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=",
        intake_sms_url="https://sms.example.gov.cn/send",
        intake_bus_keys="/etc/minsheng/keys/intake-bus-2027a.pem")
    assert not ready.production_problems()


def test_identity_and_feedback_in_production(production_keys):
    assert "MINSHENG_TOKEN_SIGNING_KEY is not set" in refusal(lambda: IdentitySettings(
        environment="production", token_public_keys=production_keys["token_public_keys"]))
    good = IdentitySettings(environment="production",
                            token_public_keys=production_keys["token_public_keys"],
                            token_signing_key=production_keys["staff"])
    assert auth.issuer_for(good).kid == "identity-2027a"
    assert "MINSHENG_RATING_LINK_SIGNING_KEY is not set" in refusal(lambda: FeedbackSettings(
        environment="production", token_public_keys=production_keys["token_public_keys"]))
    dev_links = str(auth.ensure_dev_keys().parent / "rating-link-dev.pem")
    assert "MINSHENG_RATING_LINK_SIGNING_KEY is a development key" in refusal(
        lambda: FeedbackSettings(environment="production", rating_link_signing_key=dev_links,
                                 token_public_keys=production_keys["token_public_keys"]))
    assert "must start with 'rating-link-'" in refusal(lambda: FeedbackSettings(
        environment="production", rating_link_signing_key=production_keys["citizen"],
        token_public_keys=production_keys["token_public_keys"]))
    ready = FeedbackSettings(environment="production",
                             rating_link_signing_key=production_keys["rating_links"],
                             token_public_keys=production_keys["token_public_keys"])
    assert not ready.production_problems()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT", "SSL"])
def test_production_refuses_a_bus_that_is_not_authenticated_and_encrypted(protocol,
                                                                           production_keys):
    message = refusal(lambda: ServiceSettings(
        environment="production", service="dispatch", kafka_security_protocol=protocol,
        token_public_keys=production_keys["token_public_keys"]))
    assert f"MINSHENG_KAFKA_SECURITY_PROTOCOL={protocol}" in message
    assert "SASL_SSL" in message
    assert not ServiceSettings(environment="production", service="dispatch",
                               kafka_security_protocol="SASL_SSL",
                               token_public_keys=production_keys["token_public_keys"]
                               ).production_problems()


@pytest.mark.parametrize("service, missing", [
    ("intake", "MINSHENG_INTAKE_SMS_URL is not set"),
    ("identity", "MINSHENG_TOKEN_SIGNING_KEY is not set"),
])
def test_a_service_started_without_an_environment_exits_naming_what_is_missing(
        service, missing, production_keys):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINSHENG_")}
    env.update(PYTHONPATH=f"{ROOT}:{ROOT / 'proto'}",
               MINSHENG_TOKEN_PUBLIC_KEYS=production_keys["token_public_keys"],
               MINSHENG_HTTP_PORT="1")  # never reached
    done = subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"{service} refuses to start in production" in done.stderr
    assert missing in done.stderr
