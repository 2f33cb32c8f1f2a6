"""Requests of every channel, made up, each carrying personal data in its text and contact."""

from __future__ import annotations

import uuid
from typing import Any

PIN = {"lat": 32.8902, "lon": 115.8145}
# Every secret here must never appear in anything intake publishes.
SECRETS = ["341202199001011234", "王秀英", "张建国", "李娜",
           "128号", "501室", "zhangjg@163.com", "0558-2345678", "皖K12345"]


def sample(channel: str, tag: str = "") -> dict[str, Any]:
    rid = f"{channel}-{tag or uuid.uuid4().hex[:8]}"
    # A fresh citizen each time (one citizen may send only 5 in a burst); masks to 138****5678.
    mobile = f"138{uuid.uuid4().int % 10_000:04d}5678"
    other = f"139{uuid.uuid4().int % 10_000:04d}4321"
    contact = {"name": "王秀英", "phone": mobile, "id_number": "341202199001011234",
               "address": "颍州区人民路128号3栋2单元501室"}
    pii = "我叫张建国，电话" + other + "，身份证341202199001011234，住人民路128号501室，"
    samples: dict[str, dict[str, Any]] = {
        "wechat_mini": {"channel": "wechat_mini", "request_id": rid, "openid": "oX1",
                        "text": pii + "小区门口路灯坏了一周", "location": PIN, "contact": contact},
        "wechat_official": {"channel": "wechat_official", "request_id": rid,
                            "text": "王秀英女士反映：车牌皖K12345的车长期占用消防通道",
                            "contact": contact},
        "hotline_12345": {"channel": "hotline_12345", "request_id": rid, "call_id": f"C{rid}",
                          "caller_number": mobile, "operator_id": "op-1",
                          "summary": "来电人李娜反映楼上漏水，座机0558-2345678",
                          "address": "颍州区人民路128号3栋2单元501室"},
        "mayor_mailbox": {"channel": "mayor_mailbox", "request_id": rid,
                          "subject": "张建国先生关于学校周边交通的建议",
                          "body": "邮箱zhangjg@163.com，上下学时段拥堵，建议增设协管。",
                          "sender": {"name": "张建国", "email": "zhangjg@163.com",
                                     "phone": other}},
        "media_hotline": {"channel": "media_hotline", "request_id": rid,
                          "programme": "《民生热线》", "summary": "市民李娜电话" + other + "反映菜市场噪音扰民",
                          "requester_kind": "enterprise",
                          "contact": {"organisation": "阜阳某公司", "phone": other}},
        "web": {"channel": "web", "request_id": rid, "title": "垃圾清运不及时",
                "body": "本人王秀英，人民路128号3栋2单元501室楼下垃圾三天没人清运",
                "location": PIN, "contact": {"phone": mobile}},
        "open311": {"channel": "open311", "request_id": rid, "service_code": "road_damage",
                    "description": "我是张建国，清河路井盖缺失很危险，手机" + other,
                    "lat": 32.9, "long": 115.82, "contact": {"name": "张建国"}},
    }
    return samples[channel]


CHANNELS = ["wechat_mini", "wechat_official", "hotline_12345", "mayor_mailbox", "media_hotline",
            "web", "open311"]
