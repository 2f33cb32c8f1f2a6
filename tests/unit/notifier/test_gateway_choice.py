"""Without a gateway, development takes answers into an outbox (the demo's citizens show as
reached, nothing fails six times into the dead letters); production refuses to start."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from services.notifier.adapters.gateways import OutboxGateway
from services.notifier.settings import NotifierSettings


def test_the_outbox_takes_a_message_and_names_it_by_its_notice():
    outcome = asyncio.run(OutboxGateway("SMS").post({"phone": "13912345678", "text": "答复",
                                                     "client_ref": "n-1"}))
    assert outcome.delivered and outcome.gateway_ref == "outbox:n-1"


def test_production_without_gateways_refuses_to_start_and_says_which(monkeypatch):
    monkeypatch.delenv("MINSHENG_ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError) as refused:
        NotifierSettings(environment="production")
    message = str(refused.value)
    assert "MINSHENG_NOTIFIER_SMS_URL" in message and "MINSHENG_NOTIFIER_WECHAT_URL" in message
