"""Personal data written in full-width characters (an IME's full-width mode) is found and
masked as its ASCII form is: it reached Kafka unmasked in a unit's note before."""

from __future__ import annotations

import pytest

from backbone.privacy import contains_personal_data, find_personal_data, mask_personal_data


@pytest.mark.parametrize(("text", "kind", "gone"), [
    ("已联系，电话１３９１２３４５６７８", "mobile", "１３９１２３４５６７８"),
    ("电话＋８６ １３９－１２３４－５６７８", "mobile", "１２３４－５６７８"),
    ("身份证３４１２０３１９９００３０７１２３Ｘ", "id_number", "３４１２０３１９９００３０７１２３Ｘ"),
    ("邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ("住清河路１２号３栋", "address", "１２号３栋"),
    ("微信：ｗｘ＿ａｂｃ１２３", "account", "ｗｘ＿ａｂｃ１２３"),
])
def test_full_width_personal_data_is_masked(text: str, kind: str, gone: str) -> None:
    found = find_personal_data(text)
    assert [f.kind for f in found] == [kind]
    assert text[found[0].start:found[0].end] == found[0].text  # the original's characters
    masked = mask_personal_data(text)
    assert gone not in masked and masked != text
    assert not contains_personal_data(masked)


def test_half_and_full_width_mask_alike() -> None:
    assert (mask_personal_data("电话１３９１２３４５６７８")
            == mask_personal_data("电话13912345678"))


def test_full_width_text_without_personal_data_is_unchanged() -> None:
    text = "路灯（清河路）坏了３天，晚上很黑：请尽快修理。ＡＢＣ小区"
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text
