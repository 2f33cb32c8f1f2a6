"""Territory and matter on outside-like text: 20 requests written by hand (session 8, 2026-12-06).

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition outside

Issue 15 was opened with 60 requests submitted the way a citizen types them, the place named
only in the words ("界首市某镇某村…", "颍东区某街道某小区门口…", a hotline operator's summary): county
recognised 0 of 60 then. These 20 are new, written for this check alone (not by the generator,
not from the simulator, not in the 62 hand-written requests of the integration test): hotline
summaries, web forms with a title, WeChat messages and a letter, the place only in the title or
the text (full names, short forms with a place word, a landmark, a zone), no address field and
no pin. Each is read by dispatch's own code (gazetteer, classifier with the 权责清单, routing v2)
and compared with the county and subcategory the author meant; every miss is printed.
"""

from __future__ import annotations

from typing import Any

# (channel, title, text, county meant, subcategory meant)
OUTSIDE: list[tuple[str, str, str, str, str]] = [
    ("hotline_12345", "", "市民来电反映：界首市光武镇大王庄村村口的排水沟堵了大半年，一下雨村里的路就被淹，"
     "积水到小腿，村里说没钱清。来电人希望尽快疏通。", "jieshou", "drainage"),
    ("web", "小区门口垃圾没人清", "颍东区新华街道某小区北门门口的垃圾桶已经一个星期没人清运了，垃圾堆到马路上，"
     "天一热臭得不行。", "yingdong", "garbage"),
    ("wechat_mini", "", "太和宫集镇这边有个砖厂天天冒黑烟，晚上更厉害，衣服都不敢晒外面", "taihe",
     "air-pollution"),
    ("hotline_12345", "", "来电人称其在阜南县王家坝镇一家服装厂打工，老板拖欠三个月工资共一万二千元，"
     "多次讨要未果，请求帮助。", "funan", "wage-arrears"),
    ("mayor_mailbox", "关于临泉县杨桥镇中学乱收费的问题", "尊敬的领导：我孩子在杨桥镇中学读初二，学校这学期要求"
     "每人交三百元资料费和两百元补课费，没有任何收据。请有关部门查处。", "linquan", "education-fees"),
    ("web", "农村公路被压坏", "颍上县八里河镇的村村通公路被拉沙的大车压得全是坑，孩子上学骑车摔了好几次。",
     "yingshang", "road-damage"),
    ("hotline_12345", "", "市民来电反映：颍州区清河街道某小区物业私自把公共绿地改成停车位对外出租，"
     "收入去向不明，业主要求公开账目。", "yingzhou", "property"),
    ("wechat_official", "", "我在颍泉周棚这边，楼下夜市的烧烤摊把整条人行道都占了，桌子摆到凌晨两点", "yingquan",
     "street-vending"),
    ("hotline_12345", "", "来电人反映，临泉县姜寨镇有人在基本农田里挖塘养鱼，挖掘机已经连着干了三天。",
     "linquan", "land-use"),
    ("web", "超市卖过期牛奶", "太和县旧县镇街上的一家超市卖过期牛奶，包装上的生产日期被涂改过。", "taihe",
     "food-safety"),
    ("wechat_mini", "", "阜合园区我们厂门口那条路修了一半就停了，大货车进不来，订单都耽误了，找园区没人理",
     "fuhe", "business-environment"),
    ("hotline_12345", "", "市民来电反映：颍东区插花镇某村自来水已经停了两天，事先没有任何通知，"
     "村里老人吃水困难。", "yingdong", "water-supply"),
    ("mayor_mailbox", "低保评不上", "市长您好：我是界首市西城街道的居民，丈夫去年因病去世，我一个人带两个孩子，"
     "申请低保社区说我家有车不符合，可那辆车是我弟弟的。恳请帮助。", "jieshou", "social-assistance"),
    ("web", "种粮补贴没发", "阜南县郜台乡今年的种粮补贴到现在还没发，隔壁乡早就到账了。", "funan",
     "farm-subsidies"),
    ("hotline_12345", "", "来电人反映，其父亲在颍上县人民医院住院期间，主治医生暗示要红包，态度恶劣。",
     "yingshang", "medical-service"),
    ("wechat_mini", "", "城南新区三清路和淮河路口的红绿灯坏两天了，早高峰乱成一锅粥", "chengnan",
     "traffic-order"),
    ("hotline_12345", "", "市民来电称，太和县城关镇一家KTV每天营业到凌晨三点，门口喧哗，严重扰民。",
     "taihe", "neighbourhood-noise"),
    ("web", "有人烧秸秆", "颍州区西湖镇某村有人晚上在地里烧秸秆，烟把整个村子都罩住了。", "yingzhou",
     "straw-burning"),
    ("wechat_official", "", "经开区新搬来的一家化工厂晚上偷偷往河里排废水，河里的鱼死了一大片", "fetdz",
     "water-pollution"),
    ("hotline_12345", "", "来电人反映，临泉县城东街道一家英语培训机构收了一年学费后关门跑路，几十个家长的钱"
     "退不回来。", "linquan", "off-campus-training"),
]


def outside() -> dict[str, Any]:
    from services.dispatch.domain.linear import LinearClassifier, load_linear_model
    from services.dispatch.domain.places import Place, load_gazetteer
    from services.dispatch.domain.responsibilities import load_responsibilities
    from services.dispatch.domain.routing import load_routing_table, route
    from services.dispatch.domain.taxonomy import load_taxonomy
    from services.dispatch.domain.units import load_unit_registry

    gazetteer = load_gazetteer([])
    clf = LinearClassifier(load_taxonomy(), load_linear_model(), gazetteer.without_places,
                           duties=load_responsibilities())
    table = load_routing_table(2).calibrated_to(clf.threshold)
    registry = load_unit_registry()
    rows, tally = [], {"requests": 0, "county_right": 0, "county_sure": 0, "subcategory_right": 0,
                       "unit_right": 0, "routed": 0, "routed_right": 0}
    for channel, title, text, county, sub in OUTSIDE:
        words = f"{title}\n{text}" if title else text
        place = Place(address="", lon=None, lat=None, text=words, datum=gazetteer.datum_of(channel))
        territory = gazetteer.locate(place)
        c = clf.classify(words, address="")
        decision = route(c, territory, table=table, gazetteer=gazetteer, registry=registry)
        rule = table.rules[sub]
        meant = county if rule.territorial else rule.unit
        routed = getattr(decision, "unit_code", None)
        got_rule = table.rules[c.subcategory]
        got_unit = territory.county if got_rule.territorial else got_rule.unit
        tally["requests"] += 1
        tally["county_right"] += territory.county == county
        tally["county_sure"] += (territory.county == county
                                 and territory.confidence >= (table.min_territory_confidence or 0))
        tally["subcategory_right"] += c.subcategory == sub
        tally["unit_right"] += got_unit == meant
        tally["routed"] += routed is not None
        tally["routed_right"] += routed is not None and routed == meant
        rows.append({"text": words[:24], "county": territory.county, "county_meant": county,
                     "territory_confidence": round(territory.confidence, 2),
                     "subcategory": c.subcategory, "subcategory_meant": sub,
                     "confidence": round(c.confidence, 3), "routed_to": routed, "meant": meant})
    return {**tally, "rows": rows}


def render(found: dict[str, Any]) -> str:
    n = found["requests"]
    lines = [f"{n} outside-like requests (place only in the words, no address, no pin):",
             f"  county right {found['county_right']}/{n} (sure enough to route: "
             f"{found['county_sure']}), subcategory right {found['subcategory_right']}/{n}, "
             f"unit right {found['unit_right']}/{n}",
             f"  routed automatically {found['routed']}/{n}, of which to the right unit "
             f"{found['routed_right']}/{found['routed']}"]
    for r in found["rows"]:
        miss = [k for k in ("county", "subcategory") if r[k] != r[f"{k}_meant"]]
        if r["routed_to"] is not None and r["routed_to"] != r["meant"]:
            miss.append("routed wrong")
        if r["routed_to"] is None:
            miss.append("to a dispatcher")
        if miss:
            lines.append(f"  {r['text']}…: {', '.join(miss)} (county {r['county']} "
                         f"{r['territory_confidence']}, {r['subcategory']} {r['confidence']}; "
                         f"meant {r['county_meant']}, {r['subcategory_meant']}, unit {r['meant']})")
    return "\n".join(lines)
