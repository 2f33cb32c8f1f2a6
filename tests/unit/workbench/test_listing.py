"""Filters, sort orders and cursors: checked before any query runs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.workbench.application.export import COLUMNS, named, to_xlsx
from services.workbench.domain.listing import (
    ListQueryError,
    Order,
    TicketFilter,
    decode_cursor,
    encode_cursor,
)
from services.workbench.domain.search import bigrams, query_terms
from services.workbench.entrypoints.http_desk import CallbackDone, callback_body


def test_a_reversed_date_range_or_unknown_status_is_refused_with_the_reason():
    with pytest.raises(ListQueryError, match="date_from"):
        TicketFilter(date_from=date(2026, 12, 2), date_to=date(2026, 12, 1)).check()
    with pytest.raises(ListQueryError, match="status"):
        TicketFilter(status="lost").check()
    with pytest.raises(ListQueryError, match="sort"):
        Order.parse("-citizen_name")


def test_a_unit_filter_is_forced_to_its_own_unit():
    assert TicketFilter(unit="other").scoped_to("mine").unit == "mine"


def test_dates_are_whole_days_in_china_time():
    f = TicketFilter(date_from=date(2026, 12, 1), date_to=date(2026, 12, 1))
    assert f.since == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert f.before == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


@given(st.datetimes(timezones=st.just(UTC)) | st.none(), st.text(max_size=40),
       st.sampled_from(["submitted_at", "-updated_at", "due_at"]))
def test_a_cursor_round_trips(value, ticket_id, sort):
    order = Order.parse(sort)
    assert decode_cursor(order, encode_cursor(order, value, ticket_id)) == (value, ticket_id)


def test_a_cursor_of_another_order_or_garbage_is_refused():
    cursor = encode_cursor(Order.parse("-submitted_at"), None, "x")
    with pytest.raises(ListQueryError, match="another sort"):
        decode_cursor(Order.parse("due_at"), cursor)
    with pytest.raises(ListQueryError):
        decode_cursor(Order.parse("due_at"), "%%%not-a-cursor")


def test_bigrams_of_chinese_text():
    assert bigrams("路灯不亮") == ["不亮", "灯不", "路灯"]
    assert bigrams("灯，亮") == ["亮", "灯"]
    assert query_terms(" 路灯  阳光小区 ") == ["路灯", "阳光小区"]


def test_the_export_has_chinese_headers_and_one_row_per_ticket():
    from io import BytesIO

    from openpyxl import load_workbook
    row = {"code": "FY-261127-00001-K", "submitted_at": datetime(2026, 11, 27, 1, tzinfo=UTC),
           "channel": "hotline_12345", "county": "yingzhou", "unit": "yingzhou",
           "co_units": [], "category": "urban", "subcategory": "", "urgency": "general", "title_masked": "路灯",
           "text_masked": "路灯不亮", "address_masked": "", "status": "signed_for",
           "due_at": None, "overdue": True, "rating": "", "reopen_count": 0}
    book = load_workbook(BytesIO(to_xlsx([row, row])))
    values = list(book.active.values)
    assert values[0][0] == "诉求码" and len(values[0]) == len(COLUMNS)
    assert values[1][:4] == ("FY-261127-00001-K", "2026-11-27 09:00", "12345热线", "颍州区")
    assert "办理中" in values[1] and "是" in values[1] and len(values) == 3
    renamed = next(iter(named([row], {"units": {"yingzhou": "颍州区分平台"},
                                      "categories": {"urban": "城市管理"}})))
    assert (renamed["unit"], renamed["category"]) == ("颍州区分平台", "城市管理")


@pytest.mark.parametrize("outcome,expected", [
    ("not_reached", {"reached": False}),
    ("unresolved", {"reached": True, "resolved": False, "satisfaction": "dissatisfied"}),
    ("satisfied", {"reached": True, "resolved": True, "satisfaction": "satisfied"}),
    ("dissatisfied", {"reached": True, "resolved": False, "satisfaction": "dissatisfied"}),
])
def test_one_click_callback_outcomes(outcome, expected):
    assert callback_body(CallbackDone(outcome=outcome)) == {"note": "", **expected}


def test_the_export_stays_a_readable_sheet_whatever_characters_a_citizen_typed():
    """XML 1.0 holds neither control characters nor U+FFFE/U+FFFF nor lone surrogates: one
    such ticket once made the whole exported sheet unreadable (openpyxl drops only the
    control characters), so every export that held it failed to open."""
    from io import BytesIO

    from openpyxl import load_workbook
    row = {"code": "FY-261127-00001-K", "submitted_at": datetime(2026, 11, 27, 1, tzinfo=UTC),
           "channel": "web", "county": "yingzhou", "unit": "yingzhou", "co_units": [],
           "category": "", "subcategory": "", "urgency": "", "title_masked": "控制\x01字符\uffff",
           "text_masked": "路灯坏了\x01\x0b\x1f\ufffe晚上\ud800很黑😀", "address_masked": "",
           "status": "merged", "due_at": None, "overdue": False, "rating": "", "reopen_count": 0}
    values = list(load_workbook(BytesIO(to_xlsx([row]))).active.values)
    assert values[1][9:11] == ("控制字符", "路灯坏了晚上很黑😀")


def test_the_last_day_a_date_picker_offers_is_a_valid_upper_bound():
    """date_to=9999-12-31 (a date input allows it) was a 500: the day after it overflowed."""
    assert TicketFilter(date_to=date.max).check().before is None
    assert TicketFilter(date_from=date.max, date_to=date.max).check().since is not None
