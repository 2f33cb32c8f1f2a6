"""A request's own contact masks the writings of it that the patterns miss (helper-115's probe:
these reached tickets.events and assignments.<unit> in clear on the running platform)."""

from __future__ import annotations

import pytest

from backbone.privacy import mask_personal_data
from services.intake.application.submissions import _place
from services.intake.domain.channels import parse_channel_input, to_ticket_draft
from services.intake.domain.citizen import CitizenIdentity
from services.intake.domain.known_contact import mask_with_contact

BAI = CitizenIdentity(name="柏子涵", phone="+86 139-2468-1357", id_number="34120219880715432X",
                      address="颍州区阳光花园12栋1203")
ZHEN = CitizenIdentity(name="甄慧敏", phone="139 2468 1358", address="清河路88号3栋2单元501室")
SIMA = CitizenIdentity(name="司马相如", phone="(0558)2468135", address="幸福里小区3-2-501")

LEAKS = [
    (BAI, "市民柏子涵反映楼道灯坏了", "柏子涵", "市民柏**反映楼道灯坏了"),
    (BAI, "身份证 341202 19880715 432X", "19880715", "身份证 3412**********432X"),
    (BAI, "身份证341202-19880715-432x", "19880715", "身份证3412**********432X"),
    (BAI, "住12栋1203，灯坏了", "1203", "住**栋****，灯坏了"),
    (BAI, "颍州区阳光花园12栋1203", "1203", "颍州区阳光花园**栋****"),
    (BAI, "电话1392 468 1357", "468", "电话139****1357"),
    (BAI, "电话１３９２ ４６８ １３５７", "４６８", "电话139****1357"),
    (ZHEN, "业主甄慧敏来电反映楼上漏水，请联系甄慧敏本人", "甄慧敏", "业主甄**来电反映楼上漏水，请联系甄**本人"),
    (ZHEN, "姓名：甄 慧敏", "慧敏", "姓名：甄**"),
    (SIMA, "居民司马相如投诉噪音", "相如", "居民司马**投诉噪音"),
    (SIMA, "住在幸福里小区3-2-501", "501", "住在幸福里小区*-*-***"),
    (SIMA, "座机2468135", "2468135", "座机*****35"),
    (ZHEN, "麻烦找一下甄慧敏，她在家", "慧敏", "麻烦找一下甄**，她在家"),
]


@pytest.mark.parametrize(("identity", "text", "secret", "expected"), LEAKS)
def test_the_contact_masks_what_the_patterns_miss(identity, text, secret, expected):
    # (the patterns alone left each of these in clear on 2026-12-07; some may learn them)
    masked = mask_with_contact(text, identity)
    assert secret not in masked
    assert masked == expected


def test_other_text_is_left_as_the_patterns_leave_it():
    text = "人民路清河路口的路灯坏了一个星期，3号楼前面，电话13800000000"
    assert mask_with_contact(text, BAI) == mask_personal_data(text)
    assert mask_with_contact(text, None) == mask_personal_data(text)
    assert mask_with_contact("", BAI) == ""


def test_a_contact_address_keeps_no_digit():
    assert BAI.masked().address == "颍州区阳光花园**栋****"
    assert SIMA.masked().address == "幸福里小区*-*-***"
    assert ZHEN.masked().address == "清河路**号*栋*单元***室"


def test_a_submission_masks_its_text_title_and_place_with_its_contact():
    draft = to_ticket_draft(parse_channel_input({
        "channel": "web", "request_id": "p-1", "title": "居民司马相如投诉噪音",
        "body": "我是司马相如，住在幸福里小区3-2-501，楼下太吵",
        "location": {"lat": 32.89, "lon": 115.81, "label": "幸福里小区3-2-501"},
        "contact": {"name": "司马相如", "phone": "(0558)2468135", "address": "幸福里小区3-2-501"}}))
    place = _place(draft)
    assert place is not None
    assert "501" not in place["address_masked"]
    for text in (draft.text, draft.title):
        assert "相如" not in mask_with_contact(text, draft.identity)
        assert "3-2-501" not in mask_with_contact(text, draft.identity)
