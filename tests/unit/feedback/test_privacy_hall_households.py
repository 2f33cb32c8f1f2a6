"""The public hall masked neither a household written without a road nor a full name before
本人 (helper-115's probe: /v1/hall/{code} showed "幸福里小区3-2-501", "住12栋1203" and
"请联系甄慧敏本人" in clear)."""

import pytest

from backbone.public_privacy import mask_for_public


@pytest.mark.parametrize(("text", "gone", "kept"), [
    ("住在幸福里小区3-2-501，楼下广场舞太吵", "501", "幸福里小区*-*-***"),
    ("阳光花园12栋楼道灯坏了，住12栋1203", "1203", "住**栋****"),
    ("阳光小区3号楼2单元501，漏水", "501", "阳光小区*号楼*单元***"),
    ("阳光小区3幢502室", "502", "阳光小区*幢***室"),
    ("１２栋１２０３", "１２０３", "**栋****"),
    ("业主来电反映楼上漏水，请联系甄慧敏本人", "慧敏", "请联系甄**本人"),
])
def test_the_hall_masks_households_and_names_before_benren(text, gone, kept) -> None:
    masked = mask_for_public(text)
    assert gone not in masked and kept in masked


@pytest.mark.parametrize("text", [
    "已于3月5日处理", "G3高速12公里处", "2路公交车晚点", "请本人携带身份证到窗口办理", "本人反映",
])
def test_the_hall_leaves_other_numbers_and_benren_alone(text) -> None:
    assert mask_for_public(text) == text
