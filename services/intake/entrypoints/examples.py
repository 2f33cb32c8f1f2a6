"""One example per channel for the OpenAPI page (made-up people, numbers and places). Each is
accepted as it stands when tried from /docs: no picture reference (one must be uploaded first,
POST /v1/attachments, then given as {"sha256", "kind"} in `pictures`), no `occurred_at` (a
fixed day is soon more than the 7 days a channel adapter may backfill)."""

from __future__ import annotations

from typing import Any

_PIN = {"lat": 32.8902, "lon": 115.8145, "label": "颍州区人民路与清河路交叉口"}

CHANNEL_EXAMPLES: dict[str, dict[str, Any]] = {
    "wechat_mini": {"summary": "“阜务为民”微信小程序：文字、定位、联系人（图片先上传）", "value": {
        "channel": "wechat_mini", "request_id": "wx-mini-20251127-0001", "openid": "oAbC123",
        "text": "人民路清河路口的路灯坏了一个星期，晚上很黑", "location": _PIN,
        "contact": {"name": "张三", "phone": "13800000000"}, "category_hint": "streetlight"}},
    "wechat_official": {"summary": "微信公众号留言（匿名）", "value": {
        "channel": "wechat_official", "request_id": "wx-oa-7781", "text": "颍河路夜市油烟很大",
        "anonymous": True}},
    "hotline_12345": {"summary": "12345 热线：话务员录入的来电记录", "value": {
        "channel": "hotline_12345", "request_id": "call-20251127-000123",
        "call_id": "CALL-000123", "caller_number": "13800000000", "operator_id": "op-17",
        "summary": "市民来电反映：阳光小区电梯经常困人，物业不处理",
        "address": "颍州区阳光小区5号楼"}},
    "mayor_mailbox": {"summary": "市长信箱：主题、正文、寄信人", "value": {
        "channel": "mayor_mailbox", "request_id": "mail-2025-4411",
        "subject": "关于城南新区学校周边交通的建议", "body": "上下学时段车辆拥堵，建议增设交通协管。",
        "sender": {"name": "李四", "email": "lisi@example.com"}}},
    "media_hotline": {"summary": "媒体热线（企业诉求）", "value": {
        "channel": "media_hotline", "request_id": "media-0093",
        "programme": "阜阳新闻综合频道《民生热线》", "aired_on": "2025-11-26",
        "summary": "某企业反映园区道路破损，货车通行困难", "requester_kind": "enterprise",
        "contact": {"organisation": "阜阳某制造有限公司", "phone": "0558-2345678"}}},
    "web": {"summary": "网站表单", "value": {
        "channel": "web", "request_id": "web-5521", "title": "小区垃圾清运不及时",
        "body": "清河街道某小区垃圾三天没有清运。", "location": _PIN}},
    "open311": {"summary": "Open311 字段（通常走 /open311/v2/requests.json）", "value": {
        "channel": "open311", "request_id": "o311-1", "service_code": "streetlight",
        "description": "路灯不亮", "lat": 32.8902, "long": 115.8145}},
}
