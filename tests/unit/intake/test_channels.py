import pytest
from pydantic import ValidationError

from services.intake.domain.channels import (
    Channel,
    ChannelInputError,
    parse_channel_input,
    to_ticket_draft,
)

SHA = "a" * 64
EXAMPLES = {
    "wechat_mini": {"channel": "wechat_mini", "request_id": "m1", "text": "路灯不亮", "openid": "o1",
                    "pictures": [{"sha256": SHA, "kind": "image"}], "location": {"lat": 32.89, "lon": 115.81},
                    "contact": {"name": "张三", "phone": "13812345678"}},
    "wechat_official": {"channel": "wechat_official", "request_id": "o1", "text": "井盖丢了"},
    "hotline_12345": {"channel": "hotline_12345", "request_id": "h1", "call_id": "C1", "caller_number": "13812345678",
                      "operator_id": "op7", "summary": "来电反映停水", "address": "颍州区西湖景苑"},
    "mayor_mailbox": {"channel": "mayor_mailbox", "request_id": "y1", "subject": "关于供暖", "body": "暖气不热",
                      "sender": {"name": "李四", "email": "lisi@example.com"}},
    "media_hotline": {"channel": "media_hotline", "request_id": "d1", "programme": "民生热线", "summary": "拖欠工资"},
    "web": {"channel": "web", "request_id": "w1", "title": "噪音", "body": "工地夜间施工", "anonymous": True,
            "contact": {"phone": "13812345678"}},
    "open311": {"channel": "open311", "request_id": "x1", "service_code": "streetlight", "description": "灯坏了",
                "lat": 32.9, "long": 115.8},
}


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_channel_maps_onto_one_draft(channel):
    draft = to_ticket_draft(parse_channel_input(EXAMPLES[channel]))
    assert draft.channel == Channel(channel)
    assert draft.text and draft.idempotency_key == f"{channel}:{EXAMPLES[channel]['request_id']}"


def test_channel_specifics():
    hotline = to_ticket_draft(parse_channel_input(EXAMPLES["hotline_12345"]))
    assert hotline.identity.phone == "13812345678" and hotline.channel_ref == "C1"
    assert hotline.place.address == "颍州区西湖景苑"
    web = to_ticket_draft(parse_channel_input(EXAMPLES["web"]))
    assert web.identity is None and web.anonymous  # anonymous: no identity kept at all
    mail = to_ticket_draft(parse_channel_input(EXAMPLES["mayor_mailbox"]))
    assert mail.identity.name == "李四" and mail.title == "关于供暖"
    o311 = to_ticket_draft(parse_channel_input(EXAMPLES["open311"]))
    assert (o311.place.lat, o311.place.lon, o311.category_hint) == (32.9, 115.8, "streetlight")


@pytest.mark.parametrize("payload,fragment", [
    ({"channel": "fax", "request_id": "1"}, "unknown channel"),
    ({"channel": "web", "request_id": "1", "title": "t"}, "body: Field required"),
    ({"channel": "web", "request_id": "1", "title": "t", "body": "x" * 2001}, "at most 2000"),
    ({**EXAMPLES["web"], "extra": 1}, "extra: Extra inputs are not permitted"),
    ({**EXAMPLES["wechat_mini"], "pictures": [{"sha256": "nothex", "kind": "image"}]}, "sha256"),
    ({**EXAMPLES["wechat_mini"], "location": {"lat": 200, "lon": 0}}, "lat"),
    ({**EXAMPLES["hotline_12345"], "caller_number": "call me"}, "caller_number"),
    ([], "JSON object"),
])
def test_bad_input_is_refused_with_a_reason(payload, fragment):
    with pytest.raises(ChannelInputError) as err:
        parse_channel_input(payload)
    assert fragment in err.value.reason


def test_models_are_frozen():
    model = parse_channel_input(EXAMPLES["web"])
    with pytest.raises(ValidationError):
        model.body = "changed"
