from collections import Counter

from tools.simulator import CHANNELS, SimPlan
from tools.simulator.city import build_city, load_data
from tools.simulator.model import SUBMIT
from tools.simulator.people import ANONYMOUS, ENTERPRISE, PERSON

COMMON_CATEGORIES = {"物业管理", "市容环境", "噪音扰民", "道路交通", "供水", "供电", "燃气", "劳动保障", "教育",
                     "医疗卫生", "市场监管", "房产住建", "生态环境", "公交出行", "政策咨询", "表扬"}
FUYANG = {"颍州区", "颍东区", "颍泉区", "界首市", "临泉县", "太和县", "阜南县", "颍上县", "城南新区"}
SHAPES = {
    "wechat_mini": {"openid", "text", "pictures", "location", "contact", "video"},
    "wechat_official": {"openid", "text", "pictures", "contact"},
    "hotline_12345": {"call_id", "caller_number", "summary", "operator_id"},
    "mayor_mailbox": {"letter_id", "subject", "body", "sender"},
    "media_hotline": {"programme", "summary", "caller_number"},
    "web": {"title", "content", "name", "phone", "address"},
}


def test_every_channel_and_common_category_is_present(month: SimPlan) -> None:
    truths = month.truths.values()
    assert {t.channel for t in truths} == set(CHANNELS)
    assert {t.category for t in truths} >= COMMON_CATEGORIES
    every_sub = {(c["level1"], s["level2"]) for c in load_data("templates.json")["categories"] for s in c["subs"]}
    assert every_sub == {(t.category, t.subcategory) for t in truths}


def test_every_territory_and_citizen_kind_is_present(month: SimPlan) -> None:
    names = month.unit_names
    assert {names[t.territory] for t in month.truths.values()} == FUYANG
    kinds = Counter(t.citizen_kind for t in month.truths.values())
    assert kinds[PERSON] > kinds[ANONYMOUS] > 0 and kinds[ENTERPRISE] > 0


def test_channel_payloads_have_their_own_shape(month: SimPlan) -> None:
    for action in month.actions:
        if action.kind == SUBMIT:
            channel = action.payload["channel"]
            assert SHAPES[channel] <= set(action.payload["request"]), channel


def test_texts_vary(month: SimPlan) -> None:
    texts = [a.payload["request"].get("text") for a in month.actions
             if a.kind == SUBMIT and a.payload["channel"] == "wechat_mini"]
    assert len(set(texts)) > 0.9 * len(texts)


def test_places_lie_inside_their_territory(month: SimPlan) -> None:
    boxes = {t["code"]: t["box"] for t in load_data("city.json")["territories"]}
    for truth in month.truths.values():
        west, south, east, north = boxes[truth.territory]
        assert west < truth.lon < east and south < truth.lat < north, truth.ticket


def test_territory_boxes_do_not_overlap() -> None:
    import random

    city = build_city(random.Random(0))
    for territory in city.territories:
        for estate in territory.estates:
            owners = [t.code for t in city.territories if t.contains(estate.lon, estate.lat)]
            assert owners == [territory.code]
