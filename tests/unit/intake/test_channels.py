from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.domain.channels import (
    Channel,
    ChannelInputError,
    StatedTimeError,
    check_stated_time,
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


@pytest.mark.parametrize("stated", [
    "9999-12-31T23:59:59+00:00",  # on the event clock this became intake's time: every
    "0001-01-01T00:00:00+14:00",  # later request failed (a date out of range) until a restart
    "2126-11-06T09:00:00+08:00",  # a code's YYMMDD would read 2026-11-06: another ticket's code
    "1999-12-31T23:59:59+08:00",
    "2099-12-31T16:00:00+00:00",  # 2100-01-01 in Beijing
])
def test_a_stated_time_no_ticket_code_can_carry_is_refused(stated):
    with pytest.raises(ChannelInputError, match="occurred_at"):
        parse_channel_input({**EXAMPLES["web"], "occurred_at": stated})


def test_stated_times_of_2000_to_2099_in_beijing_pass():
    for stated in ("1999-12-31T16:00:00+00:00", "2099-12-31T23:59:59+08:00",
                   "2026-12-07T09:00:00+08:00"):
        assert parse_channel_input({**EXAMPLES["web"], "occurred_at": stated}).occurred_at
    assert check_stated_time(None) is None
    naive = datetime(9999, 1, 1)  # no zone: the clock's own refusal says so
    assert check_stated_time(naive) is naive
    with pytest.raises(StatedTimeError):
        check_stated_time(datetime(2100, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("where", [
    {"body": "路灯\x00坏了"}, {"request_id": "w\x00"}, {"contact": {"name": "张\x00三"}},
    {"category_hint": "\x00"},
])
def test_a_nul_character_is_refused_before_anything_is_written(where):
    # PostgreSQL's text cannot hold it: refused here (HTTP 422, the bus's invalid_request)
    # instead of failing the group commit, or the bus consumer's transaction
    with pytest.raises(ChannelInputError, match=r"U\+0000"):
        parse_channel_input({**EXAMPLES["web"], **where})
    open311 = {**EXAMPLES["open311"], "attributes": {"a\x00": "x"}}
    with pytest.raises(ChannelInputError, match=r"U\+0000"):
        parse_channel_input(open311)


@pytest.mark.parametrize("odd", ["\x01", "\x0b", "\x1f", "\x7f", "\ufffe", "\uffff", "\ud800"])
def test_controls_and_noncharacters_are_refused_with_their_code_point(odd):
    # an .xlsx export, Open311's XML and pages cannot carry them: one such ticket made every
    # export unreadable (session 17)
    with pytest.raises(ChannelInputError, match=f"U[+]{ord(odd):04X}"):
        parse_channel_input({**EXAMPLES["web"], "body": f"路灯{odd}坏了三天了"})


def test_tabs_and_line_breaks_are_text():
    got = parse_channel_input({**EXAMPLES["web"], "body": "路灯坏了。\r\n\t已经三天了"})
    assert "\t" in got.body


def test_a_body_nested_deep_is_refused_with_a_reason_not_a_recursion_error():
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ChannelInputError, match="location"):
        parse_channel_input({**EXAMPLES["web"], "location": deep})
    nested: object = "路灯\x00"
    for _ in range(5000):
        nested = {"a": nested}
    with pytest.raises(ChannelInputError, match=r"U\+0000"):
        parse_channel_input({**EXAMPLES["web"], "contact": nested})


@pytest.mark.parametrize("odd", [False, True, "", "nan", "Infinity", "1e1", "3_2", "north",
                                 float("nan"), float("inf")])
@pytest.mark.parametrize("channel,place", [("open311", lambda v: {"lat": v, "long": 115.8}),
                                           ("web", lambda v: {"location": {"lat": v, "lon": 115.8}}),
                                           ("wechat_mini", lambda v: {"location": {"lat": v,
                                                                                   "lon": 115.8}})])
def test_a_coordinate_is_a_number_not_a_boolean_or_an_odd_string(odd, channel, place):
    """A JSON `"lat": false` was taken as 0.0 (true as 1.0, "3_2" as 32.0): a ticket pinned
    in the sea off Africa instead of a refusal."""
    with pytest.raises(ChannelInputError, match="lat"):
        parse_channel_input({**EXAMPLES[channel], **place(odd)})


@pytest.mark.parametrize("given,read", [(32.9, 32.9), (33, 33.0), ("32.9", 32.9), (" 32.9 ", 32.9),
                                        ("-0.5", -0.5), (".5", 0.5)])
def test_a_coordinate_as_a_number_or_plain_decimal_digits_is_read(given, read):
    o311 = parse_channel_input({**EXAMPLES["open311"], "lat": given})
    web = parse_channel_input({**EXAMPLES["web"], "location": {"lat": given, "lon": "115.8"}})
    assert o311.lat == read and web.location.lat == read and web.location.lon == 115.8


def test_an_open311_lat_without_its_long_is_refused_not_dropped():
    for half in ({"lat": 32.9, "long": None}, {"lat": None, "long": 115.8}):
        with pytest.raises(ChannelInputError, match="lat and long go together"):
            parse_channel_input({**EXAMPLES["open311"], **half, "address_string": "人民路"})
    no_pin = {k: v for k, v in EXAMPLES["open311"].items() if k not in ("lat", "long")}
    assert parse_channel_input({**no_pin, "address_string": "人民路"}).lat is None


def test_the_coordinate_ranges_stay_in_the_json_schema():
    from services.intake.domain.channels import LocationPin, Open311Input

    lat = Open311Input.model_json_schema()["properties"]["lat"]["anyOf"][0]
    assert (lat["type"], lat["minimum"], lat["maximum"]) == ("number", -90, 90)
    assert LocationPin.model_json_schema()["properties"]["lon"]["maximum"] == 180
