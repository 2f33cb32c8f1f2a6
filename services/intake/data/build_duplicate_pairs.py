"""Builds duplicate_pairs.json from hand-written incidents (run by hand; not imported).

Each incident is one real-world problem reported by 2-3 made-up citizens in their own words.
Pairs inside an incident are duplicates. Non-duplicates are the hard kinds a detector meets:
the same category a few hundred metres away, the same place but another problem, and the same
problem again after the time window (it came back after being fixed).
"""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

T0 = datetime(2025, 10, 8, 8, 0)

# category, lat, lon, address, [(text, hours after T0, metres east, metres north), ...]
INCIDENTS = [
    ("路灯", 32.8905, 115.8142, "颍州区清河路与三清路交叉口", [
        ("清河路和三清路交叉口的路灯已经坏了一个星期，晚上黑乎乎的，行人过马路很危险。", 0, 0, 0),
        ("三清路清河路口路灯不亮，晚上走路看不见，希望尽快修一下。", 20, 60, -40),
        ("清河路口一排路灯晚上都不亮，骑电动车差点摔倒。", 41, -90, 30)]),
    ("路灯", 32.8990, 115.8300, "颍州区中南大道阳光小区门口", [
        ("中南大道阳光小区门口的路灯白天也一直亮着，浪费电。", 5, 0, 0),
        ("阳光小区大门口路灯全天不灭，白天也亮，请管一管。", 30, 40, 20)]),
    ("道路破损", 32.8820, 115.8050, "颍州区人民路中段", [
        ("人民路中段靠近市二中的路面塌了一个大坑，下雨积水，已经有电动车摔倒了。", 2, 0, 0),
        ("市二中门口人民路上有个大坑，很深，电动车经过容易翻车。", 9, 50, 10),
        ("人民路二中附近路面塌陷，坑里全是水，看不清深浅。", 26, -70, 0)]),
    ("道路破损", 32.9100, 115.8400, "颍东区东清路", [
        ("东清路上井盖缺失，一个大洞在路中间，晚上非常危险。", 3, 0, 0),
        ("东清路有个窨井盖没了，洞口没人管，怕有小孩掉下去。", 12, 80, 0),
        ("东清路中间的井盖丢了，车辆都在绕行，请尽快补上。", 50, 30, -60)]),
    ("噪音扰民", 32.8760, 115.8210, "颍州区文峰路商业街", [
        ("文峰路商业街有家KTV每天营业到凌晨三点，声音特别大，附近居民没法睡觉。", 1, 0, 0),
        ("文峰路那家KTV半夜唱歌噪音太大，孩子要高考了根本睡不着。", 22, 30, 30),
        ("商业街KTV凌晨还在放音乐，投诉过好几次了。", 47, -40, 10)]),
    ("噪音扰民", 32.9230, 115.7900, "颍泉区泉河路工地", [
        ("泉河路的建筑工地晚上十一点以后还在施工打桩，噪音很大。", 6, 0, 0),
        ("泉河路工地夜间打桩，吵得整栋楼的人都睡不着，有没有夜间施工许可？", 18, 120, 50)]),
    ("垃圾清运", 32.8650, 115.8600, "城南新区南京路", [
        ("南京路边的垃圾堆了好几天没人清理，臭气熏天，苍蝇很多。", 4, 0, 0),
        ("城南新区南京路垃圾堆积，没人清运，天热很臭。", 28, 60, -30),
        ("南京路路边的垃圾三四天没人拉走，附近居民意见很大。", 60, -50, 40)]),
    ("垃圾清运", 32.9030, 115.8000, "颍州区北京路菜市场", [
        ("北京路菜市场门口的垃圾桶满了溢出来，一地烂菜叶。", 7, 0, 0),
        ("北京路菜市场垃圾桶满了没人倒，烂菜叶子扔得到处都是。", 31, 20, 20)]),
    ("供水", 32.8880, 115.7800, "颍州区西湖景苑小区", [
        ("西湖景苑小区从今天早上开始停水，没有任何通知，老人孩子没水用。", 0, 0, 0),
        ("西湖景苑突然停水一天了，物业说不知道原因，什么时候能来水？", 10, 30, 40),
        ("我们西湖景苑小区停水，也没提前贴通知，做饭都没水。", 14, -20, 10)]),
    ("供水", 32.9150, 115.8200, "颍泉区周棚街道和谐家园", [
        ("和谐家园小区自来水发黄有异味，烧开了也有沉淀，不敢喝。", 3, 0, 0),
        ("和谐家园的自来水是黄色的，有一股铁锈味，请水务部门检测一下。", 40, 50, 0)]),
    ("供暖", 32.8950, 115.8350, "颍州区金色家园小区", [
        ("金色家园小区暖气不热，室内温度只有十二度，交了暖气费。", 2, 0, 0),
        ("金色家园的暖气一点都不热，家里老人冻得受不了，供热公司不管。", 25, 40, 30)]),
    ("物业管理", 32.8700, 115.8000, "颍州区幸福里小区", [
        ("幸福里小区电梯经常坏，上周困了两次人，物业一直拖着不修。", 1, 0, 0),
        ("幸福里小区3号楼电梯老是停运，还困过人，物业不作为。", 19, 30, 10),
        ("幸福里电梯坏了好几天没人修，楼上老人下不了楼。", 44, 0, 40)]),
    ("物业管理", 32.9050, 115.8450, "颍东区河东小区", [
        ("河东小区物业乱收停车费，每月涨到两百元，没有任何公示。", 8, 0, 0),
        ("河东小区物业擅自把停车费涨到两百一个月，业主不同意也要收。", 33, 20, 30)]),
    ("占道经营", 32.8850, 115.8250, "颍州区鼓楼街道颍河路", [
        ("颍河路早上有很多流动摊贩占道卖菜，车都过不去，天天堵。", 0, 0, 0),
        ("鼓楼街道颍河路上的菜贩子把整条路都占了，上班高峰根本走不动。", 16, 90, 0),
        ("颍河路占道摆摊卖菜，堵塞交通，城管能不能管管。", 39, -60, 20)]),
    ("违章停车", 32.8790, 115.8330, "颍州区第三小学门口", [
        ("第三小学门口放学时乱停车严重，接孩子的车把消防通道都堵了。", 5, 0, 0),
        ("三小门口接送孩子的车乱停，把路堵死了，消防车都进不去。", 29, 40, -20)]),
    ("违章停车", 32.9000, 115.8100, "颍州区清河路人民医院", [
        ("人民医院门口私家车乱停，救护车进出都困难。", 11, 0, 0),
        ("市人民医院大门口被乱停的车堵住，救护车都被挡在外面。", 13, 30, 10),
        ("医院门口乱停车太严重，急救车进不去，出了事谁负责。", 52, -40, 0)]),
    ("餐饮油烟", 32.8720, 115.8150, "颍州区南三里湾小区底商", [
        ("南三里湾小区楼下烧烤店油烟直排，窗户都不能开，全是烟味。", 2, 0, 0),
        ("我们小区底商的烧烤店油烟没有净化，直接排到楼上住户家里。", 27, 20, 20)]),
    ("食品安全", 32.8900, 115.8000, "颍州区某超市", [
        ("在西湖大道一家超市买的牛奶过期了还在卖，生产日期是三个月前。", 4, 0, 0),
        ("西湖大道超市货架上有过期牛奶，已经拍照，请市场监管查处。", 21, 10, 0)]),
    ("交通信号", 32.8980, 115.8280, "颍州区颍州路与淮河路交叉口", [
        ("颍州路淮河路口的红绿灯坏了，一直闪黄灯，车辆乱成一团。", 1, 0, 0),
        ("淮河路颍州路交叉口信号灯不工作，只闪黄灯，很容易出事故。", 6, 30, 30),
        ("颍州路口红绿灯故障，早高峰交通混乱，需要交警疏导。", 23, -30, 0)]),
    ("绿化", 32.9080, 115.8050, "颍泉区中市街道公园", [
        ("泉北公园里有一棵大树歪了，快倒了，下面就是儿童游乐区。", 9, 0, 0),
        ("泉北公园儿童乐园旁边的大树倾斜严重，刮风怕倒下砸到孩子。", 15, 20, 10)]),
    ("排水", 32.8860, 115.8380, "颍州区三元路地下通道", [
        ("三元路地下通道下雨后积水半米深，车辆熄火，行人无法通过。", 0, 0, 0),
        ("三元路下穿通道积水严重，每次下雨都淹，排水泵不工作。", 8, 40, 0),
        ("下雨后三元路地道被淹，有车泡在水里，排水设施有问题。", 12, -20, 20)]),
    ("排水", 32.9200, 115.8500, "颍东区新华街道", [
        ("新华街道老城区下水道堵了，污水冒到路面上，味道很大。", 10, 0, 0),
        ("新华街的下水道反水，污水流得满街都是，已经好几天了。", 45, 50, 30)]),
    ("公交", 32.8930, 115.8180, "颍州区公交总站", [
        ("12路公交车经常不按时刻表发车，等了四十分钟都不来。", 3, 0, 0),
        ("12路公交班次太少，等车要半个多小时，早上上班经常迟到。", 36, 0, 0)]),
    ("环境污染", 32.8500, 115.7700, "颍州区三合镇工业园", [
        ("三合镇工业园有家工厂晚上偷排废气，刺鼻气味，附近村民头疼。", 2, 0, 0),
        ("三合工业园区夜里有刺鼻的气味，怀疑工厂偷偷排放废气。", 26, 150, 80),
        ("三合镇一家化工厂晚上排黑烟，味道呛人，请环保部门夜查。", 49, -100, 50)]),
    ("环境污染", 32.9400, 115.8800, "颍东区插花镇", [
        ("插花镇河沟里的水发黑发臭，有死鱼漂着，怀疑上游有排污。", 6, 0, 0),
        ("插花镇村边的小河变黑了，死鱼很多，臭得很。", 30, 100, 0)]),
    ("劳动保障", 32.8800, 115.8400, "颍州区某建筑工地", [
        ("我们在三元路工地干了半年活，包工头拖欠工资三个月不给。", 4, 0, 0),
        ("三元路工地老板欠我们农民工工资三个月了，一直说没钱。", 20, 30, 0),
        ("三元路建筑工地拖欠农民工工资，二十多个人没拿到钱。", 55, 0, 40)]),
    ("房产", 32.8660, 115.8250, "城南新区某楼盘", [
        ("城南新区锦绣华府交房延期一年了，开发商一直不给说法。", 7, 0, 0),
        ("锦绣华府楼盘逾期交房，业主多次找开发商没有结果。", 43, 60, 0)]),
    ("教育", 32.8920, 115.8060, "颍州区某幼儿园", [
        ("西湖路一家幼儿园乱收费，除了学费还要交什么兴趣班费用，强制的。", 8, 0, 0),
        ("西湖路幼儿园强制收取兴趣班费，不交就不让孩子上课。", 34, 10, 10)]),
    ("医疗", 32.9010, 115.8130, "颍州区人民医院", [
        ("人民医院挂号排队太久，自助机经常坏，老年人不会用手机挂号。", 5, 0, 0),
        ("市人民医院的自助挂号机坏了好几台，排队排了两个小时。", 29, 20, 0)]),
    ("燃气", 32.8780, 115.7950, "颍州区文峰街道老旧小区", [
        ("文峰街道老小区燃气管道老化，楼道里有时候能闻到燃气味。", 1, 0, 0),
        ("文峰街道我们这个老小区楼道有煤气味，燃气管道太旧了，怕出事。", 18, 30, 20)]),
    ("路灯", 32.9120, 115.8320, "颍泉区泉河大桥", [
        ("泉河大桥上的景观灯坏了好多，晚上桥上很暗。", 4, 0, 0),
        ("泉河大桥桥面上的灯一半不亮，晚上过桥很危险。", 22, 60, 0)]),
    ("道路破损", 32.8700, 115.8450, "颍州区京九路", [
        ("京九路人行道地砖大面积松动翘起，老人走路经常绊倒。", 10, 0, 0),
        ("京九路人行道砖坏了很多，一踩就翘，下雨溅一身泥水。", 38, 70, 0)]),
    ("噪音扰民", 32.9050, 115.8150, "颍州区清河广场", [
        ("清河广场广场舞音响开得太大，每天晚上到十点，影响周边居民休息。", 2, 0, 0),
        ("清河广场跳广场舞的音响声音太响了，家里关窗都能听见。", 27, 40, 20),
        ("广场舞噪音扰民，清河广场每晚放歌到很晚。", 51, -30, 0)]),
    ("垃圾清运", 32.8550, 115.8100, "颍州区王店镇", [
        ("王店镇街上的垃圾中转站满了没人拉，垃圾堆到路上了。", 6, 0, 0),
        ("王店镇垃圾站好几天没清运，路上都是垃圾，味道很重。", 17, 40, 30)]),
    ("违章建筑", 32.8950, 115.8200, "颍州区民生小区", [
        ("民生小区一楼住户私自扩建院子，把公共绿地圈占了。", 3, 0, 0),
        ("民生小区有人在一楼违建，占了小区绿化带，物业不管。", 31, 20, 0)]),
]

# Same place, another problem (not duplicates even though the place and time match).
SAME_PLACE_OTHER_PROBLEM = [
    (0, "清河路三清路交叉口有人乱倒建筑垃圾，堆了一大堆。", "垃圾清运"),
    (2, "人民路二中门口早晚高峰堵车严重，建议设置交警执勤。", "违章停车"),
    (4, "文峰路商业街的共享单车乱停乱放，挡住了人行道。", "违章停车"),
    (8, "西湖景苑小区门口的路灯不亮，晚上回家很黑。", "路灯"),
    (11, "幸福里小区物业不按时打扫楼道卫生，垃圾堆在楼梯口。", "物业管理"),
    (13, "颍河路的下水道井盖松动，车一压就响。", "道路破损"),
    (15, "人民医院门口的路灯坏了，晚上看不清路。", "路灯"),
    (20, "三元路地下通道里面的照明灯坏了好几盏。", "路灯"),
    (25, "三元路工地扬尘很大，渣土车没有覆盖。", "环境污染"),
    (31, "清河广场的公共厕所太脏了，没人打扫。", "环境卫生"),
    (5, "泉河路工地门口渣土车把路面弄得全是泥。", "道路破损"),
    (6, "南京路的路灯杆被车撞歪了，随时可能倒。", "路灯"),
    (18, "颍州路淮河路口的人行道被汽车占用停车。", "违章停车"),
    (23, "三合镇工业园的道路破损严重，大货车压出了深坑。", "道路破损"),
    (28, "文峰街道老小区的下水道堵塞，污水外溢。", "排水"),
]


def move(lat: float, lon: float, east: float, north: float) -> tuple[float, float]:
    dlat = north / 111_320
    dlon = east / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def main() -> None:
    rng = random.Random(12345)
    reports = []  # (incident index, record)
    for i, (category, lat, lon, _address, texts) in enumerate(INCIDENTS):
        for j, (text, hours, east, north) in enumerate(texts):
            rlat, rlon = move(lat, lon, east, north)
            at = T0 + timedelta(days=2 * i, hours=hours)
            reports.append((i, {"id": f"i{i}r{j}", "text": text, "category": category, "lat": rlat,
                                "lon": rlon, "at": at.isoformat()}))
    pairs = []
    by_incident: dict[int, list[dict]] = {}
    for i, rec in reports:
        by_incident.setdefault(i, []).append(rec)
    for recs in by_incident.values():
        for a, b in itertools.combinations(recs, 2):
            pairs.append({"a": a, "b": b, "duplicate": True, "note": "same incident, other words"})
    # Same category, another incident 500-1500 m away, within the window: another lamp, another pit.
    for i, j in itertools.combinations(range(len(INCIDENTS)), 2):
        if INCIDENTS[i][0] != INCIDENTS[j][0]:
            continue
        for a, b in ((by_incident[i][0], by_incident[j][-1]), (by_incident[j][0], by_incident[i][-1])):
            near = dict(b, id=b["id"] + "near" + a["id"], at=(datetime.fromisoformat(a["at"]) + timedelta(hours=6)).isoformat())
            near["lat"], near["lon"] = move(a["lat"], a["lon"], rng.choice([-1, 1]) * rng.randint(500, 1500), rng.randint(-300, 300))
            pairs.append({"a": a, "b": near, "duplicate": False, "note": "same kind of problem at another spot nearby"})
    # The same problem again after it was fixed: outside the 72 h window.
    for i, recs in by_incident.items():
        later = dict(recs[-1], id=f"i{i}later")
        later["at"] = (datetime.fromisoformat(recs[0]["at"]) + timedelta(days=rng.randint(8, 40))).isoformat()
        pairs.append({"a": recs[0], "b": later, "duplicate": False, "note": "recurred after the window"})
    for i, text, category in SAME_PLACE_OTHER_PROBLEM:
        base = by_incident[i][0]
        other = dict(base, id=f"i{i}other", text=text, category=category)
        other["at"] = (datetime.fromisoformat(base["at"]) + timedelta(hours=5)).isoformat()
        pairs.append({"a": base, "b": other, "duplicate": False, "note": "same place, other problem"})
        # The same, without categories (a channel that gave no hint): text must tell them apart.
        pairs.append({"a": dict(base, category=None), "b": dict(other, category=None), "duplicate": False,
                      "note": "same place, other problem, no category"})
    # Duplicates where one side has no category hint yet.
    for recs in list(by_incident.values())[::3]:
        pairs.append({"a": recs[0], "b": dict(recs[1], category=None), "duplicate": True,
                      "note": "same incident, one side without category"})
    out = {
        "description": "Made-up labelled pairs of Fuyang citizen requests for duplicate detection. "
                       "Built by build_duplicate_pairs.py; texts written by hand, no real people.",
        "pairs": pairs,
    }
    path = Path(__file__).with_name("duplicate_pairs.json")
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(len(pairs), sum(bool(p["duplicate"]) for p in pairs))


if __name__ == "__main__":
    main()
