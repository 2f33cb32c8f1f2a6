"""Territory from every word a request carries, and from its pin (GCJ-02 converted)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from services.dispatch.domain.places import (
    Gazetteer,
    Place,
    gcj02_to_wgs84,
    load_gazetteer,
    point_in_polygon,
    wgs84_to_gcj02,
)

COUNTIES = {"yingzhou", "yingdong", "yingquan", "jieshou", "linquan", "taihe", "funan",
            "yingshang"}


def places_data() -> dict:
    text = resources.files("services.dispatch").joinpath("data/places.json").read_text("utf-8")
    return json.loads(text)


def test_the_gazetteer_holds_every_county_zone_and_township():
    data = places_data()
    assert COUNTIES | {"chengnan", "fetdz", "fuhe"} <= set(data["territories"])
    per_county: dict[str, int] = {}
    for code in data["subdistricts"]:
        per_county[code.split(".")[0]] = per_county.get(code.split(".")[0], 0) + 1
    assert sum(per_county.values()) >= 150
    assert all(per_county[c] >= 7 for c in COUNTIES)
    assert per_county["yingshang"] == 30 and per_county["funan"] == 28  # 22+8, 20+8


def test_every_township_named_in_full_is_found_in_its_county(gazetteer):
    for code, s in places_data()["subdistricts"].items():
        found = gazetteer.locate(Place("", text=f"我家在{s['name']}，门口的路坏了"))
        assert (found.county, found.subdistrict) == (code.split(".")[0], code), s["name"]
        assert found.confidence >= 0.9


@pytest.mark.parametrize(
    ("place", "county", "subdistrict"),
    [
        (Place("", text="界首市光武镇某村路边的垃圾没人清运"), "jieshou", "jieshou.guangwu"),
        (Place("", text="颍东区河东街道某小区门口天天有人摆摊"), "yingdong", "yingdong.hedong"),
        (Place("", text="我在王家坝这边，堤上的路灯不亮"), "funan", "funan.wangjiaba"),
        (Place("", text="关于三十里铺的问题\n我们村的垃圾堆"), "yingzhou", "yingzhou.sanshilipu"),
        (Place("", text="中市那边的菜市场占道"), "yingquan", "yingquan.zhongshi"),
        (Place("", text="太和县城关镇"), "taihe", "taihe.chengguan"),
        (Place("", text="颍州区城南新区三清路"), "chengnan", "chengnan.sanqing"),
        (Place("", text="市人民医院门口的公交站"), "yingzhou", None),
        (Place("颍上县"), "yingshang", None),
        (Place("清河路88号"), "yingzhou", "yingzhou.qinghe"),
    ],
)
def test_territory_from_the_citizens_words(gazetteer, place, county, subdistrict):
    found = gazetteer.locate(place)
    assert (found.county, found.subdistrict) == (county, subdistrict)
    assert found.confidence >= 0.6 and found.reasons


def test_a_name_inside_a_longer_name_does_not_count(gazetteer):
    # 临泉 in 临泉路 (a road in 颍泉区), 城南 in 城南新区, 河东 with no place word after it.
    assert gazetteer.locate(Place("", text="临泉路上的下水道堵了")).county == "yingquan"
    assert gazetteer.locate(Place("", text="城南新区的路灯")).county == "chengnan"
    assert gazetteer.locate(Place("", text="她真是河东狮吼")).county is None


def test_ambiguity_lowers_the_confidence_and_says_why(gazetteer):
    same_name = gazetteer.locate(Place("", text="赵集那边的路坏了"))
    assert same_name.confidence < 0.5 and "都有此地名" in same_name.reasons[-1]
    two_places = gazetteer.locate(Place("", text="颍州区的人去王家坝镇"))
    assert two_places.confidence <= 0.5 and "属地不确定" in two_places.reasons[-1]
    decided = gazetteer.locate(Place("", text="太和县赵集的路坏了"))
    assert decided.county == "taihe" and decided.confidence >= 0.9


def test_the_address_and_the_text_together(gazetteer):
    found = gazetteer.locate(Place("颍上县慎城镇某小区", text="我们小区门口的路灯坏了"))
    assert (found.county, found.subdistrict) == ("yingshang", "yingshang.shencheng")


def test_coordinates_decide_only_when_the_words_do_not(gazetteer):
    lon, lat = wgs84_to_gcj02(115.26, 33.06)  # 临泉 as WeChat would send it
    assert gazetteer.locate(Place("", lon=lon, lat=lat, datum="gcj02")).county == "linquan"
    assert gazetteer.locate(Place("", lon=115.82, lat=32.83)).county == "chengnan"
    outside = gazetteer.locate(Place("", lon=117.2, lat=31.8))  # Hefei
    assert outside.county is None and "界外" in outside.reasons[0]
    agree = gazetteer.locate(Place("颍上县", lon=116.26, lat=32.63))
    assert agree.county == "yingshang" and agree.confidence > 0.9
    conflict = gazetteer.locate(Place("颍上县慎城镇", lon=115.26, lat=33.06))
    assert conflict.county == "yingshang" and conflict.confidence < 0.5


def test_gcj02_round_trip_and_offset():
    lon, lat = wgs84_to_gcj02(115.8145, 32.8902)
    assert 0.003 < abs(lon - 115.8145) + abs(lat - 32.8902) < 0.02  # a few hundred metres
    back = gcj02_to_wgs84(lon, lat)
    assert abs(back[0] - 115.8145) < 1e-6 and abs(back[1] - 32.8902) < 1e-6
    square = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    assert point_in_polygon(0.5, 0.5, square) and not point_in_polygon(1.5, 0.5, square)


def test_operators_extend_the_landmarks_without_a_release():
    extra = {"landmarks": [{"name": "幸福里小区", "aliases": ["幸福里"], "county": "taihe",
                            "subdistrict": "taihe.chengguan", "kind": "estate"}]}
    assert load_gazetteer().locate(Place("", text="幸福里小区的电梯")).county is None
    extended: Gazetteer = load_gazetteer([extra])
    found = extended.locate(Place("", text="幸福里小区的电梯"))
    assert (found.county, found.subdistrict) == ("taihe", "taihe.chengguan")


def test_the_datum_follows_the_channel(gazetteer):
    assert gazetteer.datum_of("wechat_mini") == "gcj02"
    assert gazetteer.datum_of("open311") == "wgs84"


def test_a_two_character_form_inside_an_estate_name_is_not_a_town(gazetteer):
    assert gazetteer.locate(Place("", text="阳光新村社区门口的路灯坏了")).county is None
    assert gazetteer.locate(Place("", text="我在新村这边，路灯坏了")).county == "funan"
