"""The SMS gateway port: which adapter the settings choose, the development outbox, and how a
citizen's code request behaves when the gateway fails (no database: fake verification store)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from services.intake.adapters.sms import (
    HttpSmsGateway,
    OutboxSmsGateway,
    SmsUnavailableError,
    UnconfiguredSmsGateway,
    sms_gateway_for,
)
from services.intake.application.citizens import CitizenError, CitizenPolicy, Citizens
from services.intake.settings import IntakeSettings, citizen_issuer

PHONE = "13812345678"


class Verifications:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def issue(self, citizen: str, code_hash: str, expires_at: datetime) -> None:
        self.codes[citizen] = code_hash

    def burn(self, citizen: str) -> None:
        self.codes.pop(citizen, None)


class Recording:
    reaches_phones = True

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> str:
        if self.fail:
            raise SmsUnavailableError(self.fail)
        self.sent.append((phone, text))
        return "m-1"


def citizens(sms: Any, *, show_codes: bool = False) -> tuple[Citizens, Verifications]:
    store = Verifications()
    return Citizens(app=None, index=None, verifications=store, vault=None,  # type: ignore[arg-type]
                    pepper=b"p" * 32, issuer=citizen_issuer(IntakeSettings(environment="test")), sms=sms,
                    policy=CitizenPolicy(show_codes=show_codes)), store


def test_settings_choose_the_adapter():
    assert isinstance(sms_gateway_for(IntakeSettings(environment="test")), OutboxSmsGateway)
    http = sms_gateway_for(IntakeSettings(environment="test", intake_sms_url="http://sms/x",
                                          intake_sms_token="t", intake_sms_timeout_s=2))
    assert isinstance(http, HttpSmsGateway) and http.timeout_s == 2 and http.token == "t"
    production = IntakeSettings(environment="test").model_copy(
        update={"environment": "production"})  # the secrets production needs are beside the point
    assert isinstance(sms_gateway_for(production), UnconfiguredSmsGateway)
    with pytest.raises(SmsUnavailableError, match="no SMS gateway"):
        UnconfiguredSmsGateway().send(PHONE, "x")


def test_the_code_goes_by_sms_and_is_not_shown_when_a_phone_is_reached():
    sms = Recording()
    service, store = citizens(sms, show_codes=True)
    answer = service.request_code("138 1234 5678")
    assert answer["sent_to"] == "138****5678" and answer["message_id"] == "m-1"
    assert "code" not in answer  # the gateway reaches phones: the answer never carries it
    [(phone, text)] = sms.sent
    assert phone == PHONE and "【阜阳12345】" in text and "5分钟内有效" in text
    assert len(store.codes) == 1


def test_the_development_outbox_shows_the_code_in_the_answer_only_with_show_codes():
    shown, _ = citizens(OutboxSmsGateway(), show_codes=True)
    hidden, _ = citizens(OutboxSmsGateway(), show_codes=False)
    code = shown.request_code(PHONE)["code"]
    assert len(code) == 6 and code.isdigit()
    assert "code" not in hidden.request_code(PHONE)


def test_the_outbox_logs_a_masked_phone_and_hides_the_code(caplog):
    outbox = OutboxSmsGateway()
    service, _ = citizens(outbox, show_codes=True)
    with caplog.at_level(logging.INFO):
        code = service.request_code(PHONE)["code"]
    [kept] = outbox.sent()
    assert kept.phone_masked == "138****5678" and code in kept.text
    logged = caplog.text
    assert "138****5678" in logged
    assert PHONE not in logged and code not in logged


def test_a_failing_gateway_is_a_503_with_the_reason_and_no_phone(caplog):
    service, store = citizens(Recording(fail="the SMS gateway cannot be reached"))
    with caplog.at_level(logging.INFO), pytest.raises(CitizenError) as refused:
        service.request_code(PHONE)
    assert refused.value.status == 503 and refused.value.retry_after_s > 0
    assert "cannot be reached" in refused.value.reason
    assert PHONE not in refused.value.reason and PHONE not in caplog.text
    assert store.codes == {}  # the code no one received is burnt


def test_the_per_phone_limit_holds_whatever_the_gateway_does():
    service, _ = citizens(Recording(fail="down"))
    statuses = []
    for _ in range(4):
        with pytest.raises(CitizenError) as refused:
            service.request_code(PHONE)
        statuses.append(refused.value.status)
    assert statuses == [503, 503, 503, 429]
