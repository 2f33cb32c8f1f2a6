"""Intake's pure edges: public event forms, Open311 catalogue and XML, bus mapping, body limit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from fastapi import Body, FastAPI
from starlette.middleware import Middleware

from backbone import events
from backbone.privacy import mask_personal_data
from backbone.relay import Publication
from backbone.store import EventContext
from services.intake.domain.open311 import Open311InputError, load_catalogue
from services.intake.entrypoints import publications
from services.intake.entrypoints.limits import BodyLimit
from services.intake.entrypoints.open311_format import to_xml

AT = datetime(2025, 11, 27, 1, 30, tzinfo=UTC)


def _event(kind: str, **attrs):
    cls = type(kind.split(".")[1], (), {"__qualname__": kind})
    e = cls()
    for k, v in {"originator_id": uuid.uuid4(), "originator_version": 2, "timestamp": AT,
                 **attrs}.items():
        setattr(e, k, v)
    return e


SUBMITTED = dict(channel="web", masked_text="路灯坏了", masked_title=None, category_hint="x",
                 place={"lat": 32.9, "lon": 115.8, "address_masked": "人民路*号"},
                 citizen="ab" * 32, masked_contact={"phone": "138****5678"},
                 requester_kind="citizen", adapter_id="web-1", external_ref="",
                 attachment_refs=[{"sha256": "0" * 64, "media_type": "image/png", "size": 9},
                                  "1" * 64])
CASES = {
    "Ticket.Submitted": SUBMITTED,
    "Ticket.Accepted": dict(flags=["no_location"]),
    "Ticket.Rejected": dict(reason_code="empty", reason_text_zh="内容为空"),
    "Ticket.MergedIntoCase": dict(case_id=uuid.uuid4(), primary_code="FY-1", score=0.5,
                                  primary_ticket_id="p", by="detector", confirmed=False),
    "Ticket.MergeConfirmed": dict(case_id=uuid.uuid4(), primary_code="FY-1", score=0.5,
                                  primary_ticket_id="p", by="d1"),
    "Ticket.UnmergedFromCase": dict(case_id=uuid.uuid4(), primary_ticket_id="p", reason="r",
                                    by="d1"),
    "Ticket.IdentityErased": {},
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_public_event_round_trips_through_the_envelope(kind):
    translate = publications.translate_for("t.events", "t.replies")
    pub = Publication(_event(kind, **CASES[kind]), 7, EventContext(ticket_id="tid",
                                                                   ticket_code="FY-1"), "intake")
    [out] = translate(pub)
    decoded = events.decode(out.envelope.SerializeToString())
    assert decoded.envelope == out.envelope and decoded.occurred_at == AT
    again = type(decoded.payload)()
    again.ParseFromString(decoded.payload.SerializeToString())
    assert again == decoded.payload and out.topic == "t.events" and out.key == "tid"


def test_replies_go_to_the_reply_topic_keyed_by_the_request_id():
    e = _event("BusRequest.Answered", request_id="req-9", adapter_id="a", status="accepted",
               code="FY-1", ticket_id="t", reason_code="", reason_text="", replayed=False,
               retry_after_s=0.0)
    [out] = publications.translate_for("t.events", "t.replies")(
        Publication(e, 1, EventContext(trace_id="ab" * 16), "intake"))
    assert (out.topic, out.key) == ("t.replies", "req-9")
    assert dict(events.kafka_headers(out.envelope))["event_type"] == b"IntakeReply"
    assert out.envelope.event_id == events.event_id_for(e.originator_id, e.originator_version)


def test_private_aggregates_are_never_published():
    translate = publications.translate_for("t.events", "t.replies")
    for kind in ("SealedContact.Sealed", "SubmissionKey.Recorded", "Case.Opened"):
        assert translate(Publication(_event(kind), 1, EventContext(), "intake")) == []


def test_open311_attributes_are_checked_against_the_definition():
    catalogue = load_catalogue()
    road = catalogue.get("road_damage")
    assert road is not None and road.summary()["metadata"] is True
    assert road.check_attributes({"hazard": ["manhole"]}) == {"hazard": "井盖缺失"}
    for given, words in (({}, "required"), ({"hazard": ["lava"]}, "lava"),
                         ({"hazard": ["manhole", "pothole"]}, "one value"),
                         ({"colour": ["red"]}, "colour")):
        with pytest.raises(Open311InputError, match=words):
            road.check_attributes(given)
    noise = catalogue.get("noise")
    assert noise is not None
    assert noise.check_attributes({"source": ["shop", "traffic"]})["source"] == "商铺、交通"
    light = catalogue.get("streetlight")
    with pytest.raises(Open311InputError, match="number"):
        light.check_attributes({"how_many": ["many"]})  # type: ignore[union-attr]


def test_open311_xml_uses_the_standard_element_names():
    definition = load_catalogue().get("road_damage").definition()  # type: ignore[union-attr]
    root = ET.fromstring(to_xml("service_definition", definition))
    values = root.findall("attributes/attribute/values/value")
    assert root.findtext("service_code") == "road_damage"
    assert [v.findtext("key") for v in values] == ["manhole", "pothole", "paving"]
    assert root.findtext("attributes/attribute/required") == "true"
    errors = ET.fromstring(to_xml("errors", [{"code": 400, "description": "bad"}]))
    assert errors.findtext("error/code") == "400"


def test_open311_xml_stays_well_formed_whatever_the_text_holds():
    # control characters a citizen pasted (or sent on purpose) cannot be written in XML 1.0:
    # left out, so one ticket does not make the whole public list unreadable
    text = "路灯坏了\x01\x0b\x1f\ufffe\uffff\ud800 晚上\t很黑\n😀"
    root = ET.fromstring(to_xml("service_requests", [{"description": text, "status": "open"}]))
    assert root.findtext("request/description") == "路灯坏了 晚上\t很黑\n😀"


async def test_body_limit_refuses_declared_and_streamed_bodies():
    app = FastAPI()

    @app.post("/v1/requests")
    def take(body: dict = Body()) -> dict:  # noqa: B008
        return {"n": len(body)}

    app.user_middleware.append(Middleware(BodyLimit, limits={"/v1/requests": 100}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/v1/requests", json={"a": 1})).status_code == 200
        assert (await client.post("/v1/requests", json={"a": "x" * 200})).status_code == 413

        async def chunks():
            for _ in range(5):
                yield b"a" * 50

        streamed = await client.post("/v1/requests", content=chunks(),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413


@pytest.mark.parametrize("text,masked", [
    ("王秀英女士反映路灯坏了", "王**女士反映路灯坏了"),
    ("张建国师傅说", "张**师傅说"),
    ("请李娜电话联系", "请李*电话联系"),
    ("投诉人：刘德华", "投诉人：刘**"),
    ("名叫陈红的老人", "名叫陈*的老人"),
    ("车牌皖K12345乱停", "车牌皖K***45乱停"),
    ("微信号abc_12345", "微信号a********"),
    ("和王秀女士一起", "和王*女士一起"),
])
def test_names_with_honorifics_and_other_common_patterns_are_masked(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("text", ["联系人王女士电话", "找了张师傅", "李老师电话", "王师傅手机",
                                  "物业公司女士", "门口先生", "小区的李大爷"])
def test_a_surname_with_an_honorific_is_left_alone(text):
    assert mask_personal_data(text) == text


def test_an_open311_format_typed_as_personal_data_is_not_repeated():
    """The 404 for an unknown format quoted what was typed (helper-120: "format
    .张三丰340102199001011234 is not offered")."""
    from services.intake.entrypoints.open311 import Open311Error, _format

    for typed in ("张三丰340102199001011234", "13912345678"):
        with pytest.raises(Open311Error) as refused:
            _format(typed)
        said = refused.value.description
        assert "340102199001011234" not in said and "13912345678" not in said
        assert "张三丰" not in said and refused.value.status == 404
    with pytest.raises(Open311Error) as plain:
        _format("yaml")
    assert "'yaml' is not offered" in plain.value.description
    assert _format("xml") == "xml"


def _open311():
    from services.intake.entrypoints.open311 import Open311

    none: Any = None  # (channel_input and the body check need only the catalogue)
    return Open311(submissions=none, index=none, catalogue=load_catalogue(), clock=none,
                   verifier=none, jurisdiction="fuyang.gov.cn")


@pytest.mark.parametrize("lat", ["false", "true", "nan", "inf", "3_2", "1e1", "北纬32"])
def test_an_open311_form_takes_a_coordinate_as_plain_decimal_digits_only(lat):
    """float() read "3_2" as 32.0 and "nan"/"inf" reached the model as numbers."""
    from starlette.datastructures import FormData

    from services.intake.entrypoints.open311 import Open311Error

    form = FormData([("service_code", "streetlight"), ("description", "路灯坏了"),
                     ("lat", lat), ("long", "115.8")])
    with pytest.raises(Open311Error) as refused:
        _open311().channel_input(form, "json")
    assert refused.value.status == 400 and "lat" in refused.value.description
    good = FormData([("service_code", "streetlight"), ("description", "路灯坏了"),
                     ("lat", " 32.89 "), ("long", "115.8")])
    assert _open311().channel_input(good, "json")["lat"] == 32.89


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_open311_post_in_json_is_refused_in_the_standards_form(fmt):
    """A JSON body (`"lat": false` and all) was read as an empty form: 403 "api_key is
    required" although the body held one. GeoReport v2 posts forms: say so, as a 400."""
    from services.intake.entrypoints.open311 import install_errors, router

    app = FastAPI()
    install_errors(app)
    app.include_router(router(_open311()))
    body = {"api_key": "k", "service_code": "streetlight", "description": "路灯坏了",
            "lat": False, "long": False}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        answer = await client.post(f"/open311/v2/requests.{fmt}", json=body)
    assert answer.status_code == 400
    if fmt == "json":
        [error] = answer.json()
        assert error["code"] == 400 and "form-encoded" in error["description"]
    else:
        assert ET.fromstring(answer.content).find("error/code").text == "400"
