"""The workbench's words: statuses, channels, ratings and counties as a 12345 centre says them."""

from __future__ import annotations

STATUS_ZH: dict[str, str] = {
    "submitted": "已登记",
    "accepted": "已受理",
    "rejected": "不予受理",
    "answered_on_spot": "当场答复",
    "queued": "待派单",
    "assigned": "待签收",
    "signed_for": "办理中",
    "bounced_back": "已退单",
    "replied": "已答复待审核",
    "reply_returned": "答复被退回",
    "needs_longer": "需较长时间办理",
    "dispatch_closed": "已办结待回复",
    "notified": "已回复市民",
    "reopened": "重办中",
    "closed": "已办结",
    "merged": "已并单",
}

CHANNEL_ZH: dict[str, str] = {
    "hotline_12345": "12345热线",
    "wechat_mini": "微信小程序",
    "wechat_official": "微信公众号",
    "mayor_mailbox": "市长信箱",
    "media_hotline": "媒体热线",
    "web": "网站",
    "open311": "Open311",
}

RATING_ZH: dict[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "unrated": "未评价",
}

URGENCY_ZH: dict[str, str] = {"urgent": "紧急", "simple": "简易", "general": "一般",
                              "complex": "疑难"}

COUNTY_ZH: dict[str, str] = {
    "yingzhou": "颍州区", "yingdong": "颍东区", "yingquan": "颍泉区", "jieshou": "界首市",
    "linquan": "临泉县", "taihe": "太和县", "funan": "阜南县", "yingshang": "颍上县",
    "kaifaqu": "经开区",
}


def zh(table: dict[str, str], code: str | None) -> str:
    """The Chinese name of a code, or the code itself when the table does not know it."""
    if not code:
        return ""
    return table.get(code, code)
