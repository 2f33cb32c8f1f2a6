"""Names after 市民/业主/居民..., ID numbers written in groups, households without a road or a
room word (helper-115's probe of the running platform: each reached tickets.events, a unit's
assignments topic or the hall in clear)."""

from __future__ import annotations

import pytest

from backbone.privacy import mask_personal_data


@pytest.mark.parametrize(("text", "gone", "expected"), [
    ("市民张建国反映小区电梯坏了", "建国", "市民张**反映小区电梯坏了"),
    ("业主甄慧敏来电反映楼上漏水", "慧敏", "业主甄**来电反映楼上漏水"),
    ("居民司马相如投诉噪音", "相如", "居民司马**投诉噪音"),
    ("已电话联系市民雷鸣远（137 1122 3344）", "鸣远", "已电话联系市民雷**（137****3344）"),
    ("请联系业主甄慧敏本人", "慧敏", "请联系业主甄**本人"),
    ("身份证 341202 19880715 432X", "19880715", "身份证 3412**********432X"),
    ("身份证341202-19880715-432x", "19880715", "身份证3412**********432X"),
    ("住在阳光花园12栋1203", "1203", "住在阳光花园**栋****"),
    ("文峰小区7栋3单元602上门核实", "602", "文峰小区*栋*单元***上门核实"),
    ("阳光小区3号楼2单元501", "501", "阳光小区*号楼*单元***"),
    ("住在幸福里小区3-2-501，楼下太吵", "501", "住在幸福里小区*-*-***，楼下太吵"),
])
def test_masked(text, gone, expected):
    masked = mask_personal_data(text)
    assert gone not in masked
    assert masked == expected


@pytest.mark.parametrize("text", [
    "市民高度关注此事", "业主委员会已开会", "居民楼下积水", "市民反映路灯不亮", "市民王先生来电",
    "村民们反映", "市民中心", "2026-12-07处理", "5号楼前积水", "3栋楼道灯坏了",
])
def test_left_alone(text):
    assert mask_personal_data(text) == text


def test_a_landline_is_still_masked_as_one():
    assert mask_personal_data("电话0558-2345678的分机") == "电话0558-*****78的分机"
