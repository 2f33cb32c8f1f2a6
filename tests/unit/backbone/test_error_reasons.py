"""An error's reason never repeats the personal data a caller typed (helper-120, fuzzing every
API with a phone and an ID number in each parameter: 40 operations of 7 services quoted them
back, e.g. "no SLA clock for ticket 13912345678", "unit '张三丰340102199001011234' is not in the
unit registry"). backbone.http.error masks every reason it answers; the sites that quote a
caller's value use echo, which leaves out a name as well."""

from __future__ import annotations

import asyncio

import httpx

from backbone.http import ClientError, NotFoundError, create_app, error, unrepeated
from services.audit.settings import AuditSettings

PHONE, ID_NUMBER, EMAIL = "13912345678", "340102199001011234", "zhang.san@example.com"


def _app():
    app = create_app(settings=AuditSettings(environment="test"), title="t", description="t",
                     readiness=[])

    @app.get("/v1/tickets/{code}")
    async def one(code: str) -> dict[str, str]:
        raise NotFoundError(f"no ticket {code}")

    @app.get("/v1/filter")
    async def filtered(unit: str) -> dict[str, str]:
        raise ClientError(f"unit {unit!r} is not in the unit registry")

    @app.get("/v1/count")
    async def count(n: int) -> dict[str, int]:
        return {"n": n}

    return app


def test_a_reason_quoting_what_was_typed_masks_its_personal_data():
    asyncio.run(_asked())


async def _asked() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for typed in (PHONE, f"张三{ID_NUMBER}", EMAIL):
            got = await client.get(f"/v1/tickets/{typed}")
            assert got.status_code == 404
            assert PHONE not in got.text and ID_NUMBER not in got.text
            assert "zhang.san@" not in got.text
            refused = await client.get("/v1/filter", params={"unit": f"电话{PHONE}"})
            assert refused.status_code == 400 and PHONE not in refused.text
        # what is not personal data reads as before
        plain = (await client.get("/v1/tickets/FY-261206-00482-F")).json()
        assert plain == {"error": "not_found", "detail": "no ticket FY-261206-00482-F"}
        invalid = (await client.get("/v1/count", params={"n": PHONE + "x"})).json()
        assert invalid["error"] == "invalid_request" and invalid["detail"][0]["field"] == "query.n"


def test_every_shape_of_reason_is_masked():
    assert PHONE not in unrepeated(f"no ticket {PHONE}")
    per_field = unrepeated([{"field": "body.unit", "reason": f"unknown {ID_NUMBER}"}])
    assert per_field[0]["field"] == "body.unit" and ID_NUMBER not in per_field[0]["reason"]
    assert unrepeated({"limit": 3}) == {"limit": 3}
    assert PHONE.encode() not in error(409, "conflict", f"held by {PHONE}").body
