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
