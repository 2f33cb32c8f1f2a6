import pytest
from hypothesis import given
from hypothesis import strategies as st

from backbone.privacy import contains_personal_data, find_personal_data, mask_personal_data

POSITIVE = [
    ("电话13812345678", "mobile", "电话138****5678"),
    ("手机 138 1234 5678 ", "mobile", "手机 138****5678 "),
    ("打+86-138-1234-5678找我", "mobile", "打138****5678找我"),
    ("身份证341202199001011234", "id_number", "身份证3412**********1234"),
    ("证件号34120219900101123X。", "id_number", "证件号3412**********123X。"),
    ("座机0558-2345678", "landline", "座机0558-*****78"),
    ("（0558）22345678", "landline", "0558-******78"),
    ("银行卡号 6222 0212 3456 7890 123 被扣", "bank_card", "银行卡号 ***************0123 被扣"),
    ("卡 4111111111111111 ", "bank_card", "卡 ************1111 "),
    ("邮箱 zhangsan@163.com", "email", "邮箱 z***@163.com"),
    ("住人民路128号3栋2单元501室", "address", "住人民路***号*栋*单元***室"),
    ("阳光小区5号楼2单元302室", "address", "阳光小区*号楼*单元***室"),
    ("我叫张三，", "name", "我叫张*，"),
    ("联系人：欧阳娜娜", "name", "联系人：欧阳**"),
    ("本人张伟反映", "name", "本人张*反映"),
    ("我是李明，家在这", "name", "我是李*，家在这"),
]

NEGATIVE = [
    "工单FY-251127-00042-K 已受理",
    "2025年11月27日下午3点，温度12度",
    "路灯坏了120天了",
    "我是王庄村的村民",
    "我是周边居民",
    "我是外卖骑手",
    "联系人王女士",
    "人民路和清河路交叉口",
    "金额12345元，面积88.5平方米",
    "订单号2025112700001",
    "我是一名老师",
    "USB接口坏了",
    "1234567890123456 不是卡号",  # fails Luhn, no cue, not 62
]


@pytest.mark.parametrize("text,kind,masked", POSITIVE)
def test_personal_data_is_found_and_masked(text, kind, masked):
    assert kind in {f.kind for f in find_personal_data(text)}
    assert mask_personal_data(text) == masked
    assert not contains_personal_data(mask_personal_data(text))


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_is_left_alone(text):
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text


def test_several_kinds_in_one_text():
    text = "我叫张三，电话13812345678，身份证341202199001011234，住颍州区人民路128号"
    assert [f.kind for f in find_personal_data(text)] == ["name", "mobile", "id_number", "address"]
    masked = mask_personal_data(text)
    for secret in ("三", "12345678", "199001011", "128"):
        assert secret not in masked


@given(st.text(alphabet="0123456789 -路号栋室我叫张王李手机电话@.abc", max_size=60))
def test_masking_is_idempotent(text):
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once


@pytest.mark.parametrize(("text", "secret"), [
    ("家住人民路１２号３栋", "１２"),  # full-width digits: still a house number
    ("微信：_____-", "____"),  # an account of underscores and dashes only
    ("联系邮箱 ab@cd.com", "b@"),
])
def test_texts_with_no_ascii_letter_or_digit_skip_the_patterns_and_nothing_else_does(text, secret):
    """_pattern_findings skips its eleven scans for a text with no digit, Latin letter, "_",
    "-" or "@" (most complaints): each of these still holds one and is masked."""
    assert secret not in mask_personal_data(text)
