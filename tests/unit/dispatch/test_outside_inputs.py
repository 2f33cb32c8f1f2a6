"""What an outside department system or dispatcher (session 17's probes) could send that the
service did not expect: a ticket "code" of 100,000 characters (echoed in the NOT_FOUND
reason, it passed gRPC's metadata limit: RESOURCE_EXHAUSTED without a reason), and a stated
time at datetime's limits (a 500 in the HTTP API; in the department API an event sla's
consumer could not count a deadline from)."""

import datetime as dt

import grpc
import pytest

from backbone.clock import Clock, ClockTimeError
from services.dispatch.application.commands import (
    BadRequestError,
    TicketRef,
)
from services.dispatch.entrypoints.grpc_api import status_for


@pytest.mark.parametrize("ref", [TicketRef(code="F" * 100_000), TicketRef(ticket_id="x" * 65)])
def test_an_overlong_ticket_reference_is_refused_before_it_is_echoed(ref):
    with pytest.raises(BadRequestError) as refused:
        ref.check()
    code, reason = status_for(refused.value)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and len(reason) < 100


def test_real_references_pass():
    TicketRef(code="FY-261207-00104-Q").check()
    TicketRef(ticket_id="ef3bf86c-7ef0-569a-9ba2-ab66034f3c2c").check()


@pytest.mark.parametrize("stated", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
                                    "0001-01-01T00:00:00+00:00"])
def test_a_time_deadlines_cannot_be_counted_from_is_invalid(stated):
    with pytest.raises(ClockTimeError, match="outside the times") as refused:
        Clock("event").command_time(dt.datetime.fromisoformat(stated))
    assert status_for(refused.value)[0] is grpc.StatusCode.INVALID_ARGUMENT


def test_ordinary_times_pass():
    when = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
    assert Clock("event").command_time(when) == when


def test_a_code_however_typed_names_the_ticket_intake_wrote():
    # a unit's system (or the workbench's desk) sending the code in lower case got NOT_FOUND
    for typed in ("fy-261204-00009-d", "FY26120400009D", " fy 261204 00009 d "):
        assert TicketRef(code=typed).code == "FY-261204-00009-D"
    assert TicketRef(code="not-a-code").code == "not-a-code"  # left for NOT_FOUND to say


def test_a_reference_that_may_be_personal_data_is_not_repeated():
    """A dispatcher who typed a phone number for a code got it back in the 404 ("no
    dispatched ticket 13987650123"); the errors name a reference by str(ref)."""
    assert "13987650123" not in str(TicketRef(code="13987650123"))
    assert "赵铁柱" not in str(TicketRef(code="赵铁柱"))
    assert str(TicketRef(code="fy-261207-00104-q")) == "'FY-261207-00104-Q'"
    assert str(TicketRef(ticket_id="ef3bf86c-7ef0-569a-9ba2-ab66034f3c2c")) == \
        "'ef3bf86c-7ef0-569a-9ba2-ab66034f3c2c'"


def test_a_units_text_and_a_dispatchers_reason_take_no_control_characters():
    """A unit's note, reply or reason over gRPC, and a dispatcher's reason over HTTP, took
    control characters and noncharacters (helper-120: AddNote "\\x01\\x08\\x07", U+FFFE, DEL
    were stored), which intake and feedback refuse at the door (backbone.text): a reply
    reaches the citizen, the hall and the exports."""
    import pydantic

    from services.dispatch.entrypoints.grpc_api import Refused, _text
    from services.dispatch.entrypoints.http_api import AssignBody, ReasonBody

    for bad in ("bell \x07", "\x01", "\ufffe", "DEL\x7f", "NUL\x00"):
        with pytest.raises(Refused) as refused:
            _text("note", bad)
        assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "U+" in refused.value.reason
        with pytest.raises(pydantic.ValidationError):
            ReasonBody(reason=bad)
        with pytest.raises(pydantic.ValidationError):
            AssignBody(unit="yingzhou", reason=bad)
    assert _text("reply", "已修复。\n谢谢\t反馈") == "已修复。\n谢谢\t反馈"
    assert ReasonBody(reason="不属于本单位\n职责").reason == "不属于本单位\n职责"
