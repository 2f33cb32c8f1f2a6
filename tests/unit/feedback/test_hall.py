import base64
import json
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.feedback.domain.errors import InvalidHallQueryError
from services.feedback.domain.hall import (
    HallQuery,
    HallRow,
    decode_cursor,
    hall_page,
    load_hall_rules,
    may_show,
)

RULES = load_hall_rules()
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NAMES = ("王秀英", "李建国", "张桂兰")
PHONE = re.compile(r"1[3-9]\d{9}")
ID_NUMBER = re.compile(r"\d{17}[\dXx]")


def fake_masker(text: str) -> str:
    """Stands in for backbone.privacy.mask_personal_data in these unit tests."""
    text = ID_NUMBER.sub("[身份证号]", text)
    text = PHONE.sub("[电话]", text)
    for name in NAMES:
        text = text.replace(name, name[0] + "**")
    return text


def row(n: int = 1, **changes: object) -> HallRow:
    base = HallRow(
        ticket_id=f"T-{n}",
        ticket_code=f"FY2024030100{n:04d}",
        text="我是王秀英，电话13912345678，清河街道幸福路88号3栋楼下垃圾堆放多日无人清运。",
        category="城市管理/垃圾清运",
        county="颍州区",
        sub_district="清河街道",
        exact_address="幸福路88号3栋",
        unit_name="颍州区城市管理局",
        status="replied",
        updated_at=T0 + timedelta(minutes=n),
        reply_text="已联系王秀英女士（13912345678），于幸福路88号3栋完成清运。",
        verdict="satisfied",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def page(rows: list[HallRow], **query: object) -> list:
    return hall_page(rows, HallQuery(**query), mask=fake_masker, rules=RULES).entries  # type: ignore[arg-type]


def test_a_row_is_masked_and_placed_at_district_level() -> None:
    [entry] = page([row()])
    shown = " ".join(str(v) for v in asdict(entry).values())
    for secret in ("王秀英", "13912345678", "幸福路", "88号", "3栋"):
        assert secret not in shown
    assert entry.place == "颍州区 清河街道"
    assert entry.rating_label == "满意" and entry.status_label == "已答复"
    assert "[地址已隐去]" in entry.text and "垃圾堆放" in entry.text


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "rejected"},
        {"status": "submitted"},
        {"status": "merged"},
        {"private": True},
        {"category": "举报/违法建设"},
        {"category": "信访事项"},
    ],
)
def test_showing_rules(changes: dict) -> None:
    assert not may_show(row(**changes), RULES)
    assert page([row(**changes)]) == []


def test_unknown_statuses_are_not_shown() -> None:
    assert not may_show(row(status="something_new"), RULES)


@pytest.mark.parametrize(
    "sub_district, expected",
    [
        ("清河街道", "颍州区 清河街道"),
        ("人民路12号", "颍州区"),
        ("幸福小区", "颍州区"),
        ("清河街道幸福路88号", "颍州区"),
        ("3号楼", "颍州区"),
        ("", "颍州区"),
        ("王家村", "颍州区"),
        ("程集镇", "颍州区 程集镇"),
    ],
)
def test_place_never_below_sub_district(sub_district: str, expected: str) -> None:
    assert page([row(sub_district=sub_district)])[0].place == expected


place_text = st.text(alphabet="清河幸福人民路街道镇乡号栋楼室单元小区村组0123456789", max_size=14)


@given(county=place_text, sub=place_text)
def test_property_place_has_no_road_number_or_building(county: str, sub: str) -> None:
    entries = page([row(county=county + "区", sub_district=sub)])
    for e in entries:
        assert not re.search(r"\d|路|号|栋|楼|室|单元|小区|村|组", e.place)


@given(
    name=st.sampled_from(NAMES),
    phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    address=st.from_regex(r"[幸福人民长江]{2}路[1-9]\d{0,2}号", fullmatch=True),
    filler=st.text(alphabet="小区门口路灯不亮垃圾噪音扰民请处理。", max_size=30),
)
def test_property_no_personal_data_in_any_hall_field(
    name: str, phone: str, address: str, filler: str
) -> None:
    text = f"{filler}{name}反映{address}{filler}，联系电话{phone}。"
    r = row(text=text, reply_text=f"已回复{name}，{address}已处理。", exact_address=address)
    for e in page([r]):
        shown = " ".join(str(v) for v in asdict(e).values())
        assert name not in shown and phone not in shown and address not in shown


def test_keyword_search_runs_on_masked_text_only() -> None:
    rows = [
        row(1),
        row(
            2,
            text="颍东区某路段路灯不亮",
            category="市政设施/路灯",
            county="颍东区",
            sub_district="向阳街道",
            exact_address="",
            reply_text="",
        ),
    ]
    assert [e.ticket_code for e in page(rows, keyword="路灯")] == ["FY20240301000002"]
    assert page(rows, keyword="13912345678") == []  # a phone number finds nothing
    assert page(rows, keyword="王秀英") == []
    assert len(page(rows, county="颍东区")) == 1
    assert len(page(rows, category="城市管理/垃圾清运")) == 1
    assert len(page(rows, status="closed")) == 0


def test_cursor_pages_walk_every_row_once_newest_first() -> None:
    rows = [row(n) for n in range(1, 48)] + [row(99, status="rejected")]
    seen: list[str] = []
    cursor = ""
    while True:
        result = hall_page(
            rows, HallQuery(cursor=cursor, page_size=10), mask=fake_masker, rules=RULES
        )
        assert result.total == 47
        seen += [e.ticket_code for e in result.entries]
        if result.next_cursor is None:
            break
        cursor = result.next_cursor
    assert len(seen) == 47 == len(set(seen))
    assert seen[0] == "FY20240301000047"


@pytest.mark.parametrize(
    "query",
    [
        HallQuery(cursor="not-a-cursor"),
        HallQuery(page_size=0),
        HallQuery(page_size=500),
        HallQuery(keyword="长" * 100),
    ],
)
def test_bad_queries_are_refused(query: HallQuery) -> None:
    with pytest.raises(InvalidHallQueryError):
        hall_page([row()], query, mask=fake_masker, rules=RULES)


@pytest.mark.parametrize("code", [None, 7, ["FY"], "FY\x00", "FY\n1"])
def test_a_cursor_whose_code_is_no_text_of_ours_is_refused(code):
    """[time, null] was taken as the code "None"; [time, "\\u0000"] reached PostgreSQL."""
    raw = json.dumps(["2026-12-06T04:34:26+00:00", code]).encode()
    with pytest.raises(InvalidHallQueryError):
        decode_cursor(base64.urlsafe_b64encode(raw).decode())
