"""POST /v1/attachments is served in front of FastAPI (entrypoints/fast_upload.py) when it is
an adapter's multipart form with a file; anything else goes on to the route. Both answer
alike, traced and counted under the route."""

from __future__ import annotations

import uuid

import httpx
import pytest

from backbone import auth

pytestmark = pytest.mark.integration

def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + uuid.uuid4().bytes + b"\x00" * 16


def _bearer(intake, role: str) -> dict:
    token = auth.mint(intake.settings, sub=f"{role}-{uuid.uuid4().hex[:6]}", role=role)
    return {"authorization": f"Bearer {token}"}


COUNT = 'minsheng_http_requests_total{route="/v1/attachments",service="intake",status="%s"}'


async def _counted(http, status: int) -> float:
    text = (await http.get("/metrics")).text
    return next((float(line.rpartition(" ")[2]) for line in text.splitlines()
                 if line.startswith(COUNT % status)), 0.0)


async def test_the_lean_upload_and_the_route_answer_alike(intake):
    png = _png()
    trace = uuid.uuid4().hex
    async with intake.client() as adapter:
        before = await _counted(adapter, 201)
        first = await adapter.post("/v1/attachments", files={"file": ("p.png", png)},
                                   headers={"traceparent": f"00-{trace}-{'1' * 16}-01"})
        assert first.status_code == 201, first.text
        assert first.json() == {"sha256": first.json()["sha256"], "kind": "image",
                                "media_type": "image/png", "size": len(png), "new": True}
        assert trace in first.headers["traceparent"]
        assert await _counted(adapter, 201) == before + 1
        again = await adapter.post("/v1/attachments", files={"file": ("q.png", png)})
        assert again.status_code == 200 and again.json()["new"] is False
        assert again.json()["sha256"] == first.json()["sha256"]
        # a form without its file, or not a form: the route's 422 naming what is missing
        missing = await adapter.post("/v1/attachments", files={"other": ("p.png", png)})
        assert missing.status_code == 422 and "file" in missing.text, missing.text
        plain = await adapter.post("/v1/attachments", content=png,
                                   headers={"content-type": "image/png"})
        assert plain.status_code == 422, plain.text
        # a file the store refuses (not a picture, video or PDF): the route's 422 and reason
        junk = await adapter.post("/v1/attachments", files={"file": ("x.exe", b"MZ" + b"\0" * 64)})
        assert junk.status_code == 422 and junk.json()["detail"], junk.text
        assert junk.headers.get("traceparent")
    # no token, or a token of another role: the route's 401 / 403
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as http:
        anonymous = await http.post("/v1/attachments", files={"file": ("p.png", png)})
        assert anonymous.status_code == 401
        staff = await http.post("/v1/attachments", files={"file": ("p.png", png)},
                                headers=_bearer(intake, "dispatcher"))
        assert staff.status_code == 403
