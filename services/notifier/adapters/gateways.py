"""The ports messages leave by: the city's SMS gateway and the WeChat message service.

Both are a JSON POST with a bearer token and a timeout; the notice id is sent as
`client_ref`, the gateway's idempotency key, so an attempt repeated after a crash (the
notifier cannot know whether the gateway took the first one) is sent to the phone once.

* SMS: the same contract as intake's verification-code gateway (services/intake/adapters/
  sms.py): {"phone", "text", "sign", "client_ref"} -> 2xx {"message_id"}.
* WeChat: {"citizen", "template", "ticket_code", "title", "body", "page", "client_ref"} ->
  2xx {"message_id"}. The citizen is the pseudonym: the WeChat adapter that took the request
  holds the openid it belongs to; the notifier never sees one.

A phone number never appears in a log line, an error or an event.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp

from services.notifier.adapters.kept_client import KeptClient, json_of
from services.notifier.domain.delivery import Outcome

log = logging.getLogger(__name__)


class OutboxGateway:
    """Development and test without a gateway: the message is taken and not sent (no phone is
    reached), so a demo's answers show as delivered instead of failing six times into the dead
    letters. Production refuses to start without real gateways (NotifierSettings)."""

    def __init__(self, name: str):
        self.name = name

    async def post(self, body: dict[str, Any]) -> Outcome:
        log.info("%s outbox (development, not sent): %s", self.name, body.get("client_ref"))
        return Outcome(True, gateway_ref=f"outbox:{body['client_ref']}")


class HttpGateway(KeptClient):
    def __init__(self, url: str, *, token: str = "", timeout_s: float = 5.0, name: str):
        super().__init__(timeout_s)
        self.url = url
        self.token = token
        self.name = name

    async def post(self, body: dict[str, Any]) -> Outcome:
        if not self.url:
            return Outcome(False, reason=f"no {self.name} gateway is configured")
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.client().post(self.url, json=body, headers=headers,
                                          allow_redirects=False) as response:
                status = response.status
                answer = await json_of(response) if status < 300 else None
        except TimeoutError:
            return Outcome(False, reason=f"the {self.name} gateway gave no answer within "
                                         f"{self.timeout_s:g} s")
        except aiohttp.ClientError as exc:  # str(exc) may quote the request: only its kind
            return Outcome(False, reason=f"the {self.name} gateway cannot be reached "
                                         f"({type(exc).__name__})")
        if 200 <= status < 300:
            return Outcome(True, gateway_ref=_message_id(answer) or body["client_ref"])
        # 4xx other than 408/429: the gateway refuses this message; sending it again won't help
        retryable = status >= 500 or status in (408, 429)
        return Outcome(False, reason=f"the {self.name} gateway answered HTTP {status}",
                       retryable=retryable)


def _message_id(answer: Any) -> str:
    return str(answer.get("message_id") or answer.get("id") or "")[:100] if isinstance(
        answer, dict) else ""


class Poster(Protocol):
    """Where a channel's messages are posted: a gateway over HTTP, or the development
    outbox."""

    async def post(self, body: dict[str, Any]) -> Outcome: ...


class SmsGateway:
    def __init__(self, gateway: Poster, sign: str):
        self.gateway = gateway
        self.sign = sign

    async def send(self, *, phone: str, text: str, client_ref: str) -> Outcome:
        return await self.gateway.post({"phone": phone, "text": text, "sign": self.sign,
                                        "client_ref": client_ref})


class WeChatGateway:
    def __init__(self, gateway: Poster):
        self.gateway = gateway

    async def send(self, *, citizen: str, template: str, ticket_code: str, title: str,
                   body: str, page: str, client_ref: str) -> Outcome:
        return await self.gateway.post({
            "citizen": citizen, "template": template, "ticket_code": ticket_code,
            "title": title, "body": body, "page": page, "client_ref": client_ref})
