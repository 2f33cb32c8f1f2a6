"""The SMS gateway port: how a one-time code reaches a citizen's phone.

`SmsGateway.send(phone, text) -> message id`, or `SmsUnavailableError` with a reason that
names no phone. Three adapters:

* `HttpSmsGateway`: the city's gateway, a JSON POST with a bearer token and a timeout;
* `OutboxSmsGateway`: development and test, where no phone is reached: the message is written
  to the log (phone masked, code hidden) and kept in memory;
* `UnconfiguredSmsGateway`: production without a gateway: every send is refused, so citizens
  hear "unavailable" instead of waiting for a code that never comes.

The phone number never appears in a log line or an error; the text (it holds the code) never
leaves the adapter except to the gateway. Nothing here publishes to Kafka.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from backbone.privacy import mask_phone

log = logging.getLogger(__name__)
_DIGIT_RUN = re.compile(r"\d{4,}")


class SmsUnavailableError(Exception):
    """The message was not accepted by the gateway; ``reason`` is safe to show and log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SmsGateway(Protocol):
    # False where no phone is reached (development): the code may then be shown instead.
    reaches_phones: bool

    def send(self, phone: str, text: str) -> str: ...


class HttpSmsGateway:
    """POST {url} {"phone", "text", "sign", "client_ref"} -> 2xx {"message_id": ...}."""

    reaches_phones = True

    def __init__(self, url: str, *, token: str = "", timeout_s: float = 5.0, sign: str = ""):
        self.url = url
        self.token = token
        self.timeout_s = timeout_s
        self.sign = sign

    def send(self, phone: str, text: str) -> str:
        client_ref = uuid.uuid4().hex  # lets the gateway drop a copy if it retries
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"phone": phone, "text": text, "sign": self.sign, "client_ref": client_ref}
        masked = mask_phone(phone)
        try:
            response = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.TimeoutException:
            log.warning("SMS to %s: gateway gave no answer within %.0f s", masked, self.timeout_s)
            raise SmsUnavailableError(
                f"the SMS gateway did not answer within {self.timeout_s:.0f} s") from None
        except httpx.HTTPError as exc:
            # str(exc) may quote the request; only its kind is logged
            log.warning("SMS to %s: gateway unreachable (%s)", masked, type(exc).__name__)
            raise SmsUnavailableError("the SMS gateway cannot be reached") from None
        if not response.is_success:
            log.warning("SMS to %s: gateway answered %s", masked, response.status_code)
            raise SmsUnavailableError(f"the SMS gateway refused the message "
                                      f"(HTTP {response.status_code})")
        message_id = _message_id(response) or client_ref
        log.info("SMS to %s accepted by the gateway as %s", masked, message_id)
        return message_id


def _message_id(response: httpx.Response) -> str:
    try:
        answer: Any = response.json()
    except ValueError:
        return ""
    if isinstance(answer, dict):
        value = answer.get("message_id") or answer.get("id") or ""
        return str(value)[:100]
    return ""


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    phone_masked: str
    text: str


class OutboxSmsGateway:
    """Development: the message goes to the log, with the phone masked and digit runs (the
    code) hidden; the last messages stay in memory for whoever runs the service locally."""

    reaches_phones = False

    def __init__(self, keep: int = 100):
        self._sent: deque[OutboxMessage] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> str:
        message = OutboxMessage(uuid.uuid4().hex, mask_phone(phone), text)
        with self._lock:
            self._sent.append(message)
        log.info("SMS outbox (not sent, development) to %s as %s: %s", message.phone_masked,
                 message.message_id, _DIGIT_RUN.sub(lambda m: "*" * len(m.group()), text))
        return message.message_id

    def sent(self) -> list[OutboxMessage]:
        with self._lock:
            return list(self._sent)


class UnconfiguredSmsGateway:
    reaches_phones = False  # it reaches no one; send refuses before any code could be shown

    def send(self, phone: str, text: str) -> str:
        raise SmsUnavailableError("no SMS gateway is configured for this service")


def sms_gateway_for(settings: Any) -> SmsGateway:
    """The adapter the settings ask for (IntakeSettings: intake_sms_*, environment)."""
    if settings.intake_sms_url:
        return HttpSmsGateway(settings.intake_sms_url, token=settings.intake_sms_token,
                              timeout_s=settings.intake_sms_timeout_s,
                              sign=settings.intake_sms_sign)
    if settings.environment in ("development", "test"):
        return OutboxSmsGateway()
    log.warning("MINSHENG_INTAKE_SMS_URL is not set: citizens cannot get verification codes")
    return UnconfiguredSmsGateway()
