"""Intake's channel adapters' API, as the simulated WeChat, hotline, mailbox, media and web
adapters use it: one token (one ``sub``) per channel adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tools.simulator.drive.errors import ActionError
from tools.simulator.drive.http import Clients, call
from tools.simulator.drive.requests import attachment_bytes, plan_attachments, to_channel_input
from tools.simulator.drive.settings import Endpoints


@dataclass(frozen=True)
class Submitted:
    code: str
    ticket_id: str
    status: str          # accepted | rejected | submitted
    replayed: bool
    rejection: str | None = None


class IntakeAdapters:
    def __init__(self, endpoints: Endpoints, *, timeout: float = 30.0):
        self.endpoints = endpoints
        self.client = Clients(base_url=endpoints.intake, timeout=timeout)
        self._uploaded: dict[int, dict[str, str]] = {}
        self.attachments_supported = True

    async def close(self) -> None:
        await self.client.aclose()

    def _headers(self, channel: str) -> dict[str, str]:
        token = self.endpoints.token("channel_adapter", sub=f"sim-adapter-{channel}")
        return {"authorization": f"Bearer {token}"}

    async def submit(self, submit: dict[str, Any], *, at: datetime | None) -> Submitted:
        """POST /v1/requests for one plan submission (uploading its pictures first)."""
        refs = await self._upload_all(submit)
        body = to_channel_input(submit, occurred_at=at, attachment_refs=refs)
        response = await call(self.client, "intake", "POST", "/v1/requests", json=body,
                              headers=self._headers(submit["channel"]))
        data = response.json()
        rejection = data.get("rejection") or None
        return Submitted(code=data["code"], ticket_id=str(data["ticket_id"]),
                         status=data.get("status", "submitted"), replayed=bool(data.get("replayed")),
                         rejection=(rejection or {}).get("reason_code"))

    async def merged(self, code: str) -> bool:
        """Whether the ticket is merged into a case (并单: by intake's duplicate projector or a
        dispatcher), as a dispatcher's screen shows it: such a ticket is never assigned, its
        case's primary is. False when intake cannot say now (down, restarting): ask again."""
        try:
            response = await call(self.client, "intake-ticket", "GET", f"/v1/tickets/{code}",
                                  headers=self.endpoints.bearer("dispatcher", sub="sim-desk"))
        except ActionError:
            return False
        return bool(response.json().get("case_id"))

    async def _upload_all(self, submit: dict[str, Any]) -> list[dict[str, str]]:
        refs = []
        for item in plan_attachments(submit["request"]):
            ref = await self._upload(submit["channel"], item)
            if ref is not None:
                refs.append(ref)
        return refs

    async def _upload(self, channel: str, item: dict[str, Any]) -> dict[str, str] | None:
        seed = item["content_seed"]
        if seed in self._uploaded:
            return self._uploaded[seed]
        if not self.attachments_supported:
            return None
        name, mime, data = attachment_bytes(item)
        try:
            response = await call(self.client, "intake-attachments", "POST", "/v1/attachments",
                                  files={"file": (name, data, mime)}, headers=self._headers(channel))
        except ActionError as exc:
            if exc.kind in ("intake-attachments:404", "intake-attachments:405"):
                self.attachments_supported = False  # an intake without uploads: send text only
                return None
            raise
        body = response.json()
        ref = {"sha256": body["sha256"], "kind": body.get("kind") or ("video" if mime.startswith("video") else "image")}
        self._uploaded[seed] = ref
        return ref
