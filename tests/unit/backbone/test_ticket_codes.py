"""A ticket code as a person types it (backbone.ticket_codes: feedback, the notifier): feedback
took "fy261203 00003u" for FY-261203-00003-U, the notifier answered an empty list for it (and
200 for "hello"), so staff thought nothing had been sent."""

from __future__ import annotations

import pytest

from backbone.http import ClientError
from backbone.ticket_codes import ticket_code


@pytest.mark.parametrize("typed", ["FY-261203-00003-U", "fy-261203-00003-u", "FY26120300003U",
                                   " fy 261203 00003 u ", "FY-261203-00003-U\n"])
def test_a_code_however_typed_is_the_code_intake_wrote(typed):
    assert ticket_code(typed) == "FY-261203-00003-U"


@pytest.mark.parametrize("typed", ["hello", "", "FY-2612-00003-U", "FY-261203-00003-UU",
                                   "FY-261203-00003-U\x00", "ＦＹ-261203-00003-U",
                                   "FY-２６１２０３-00003-U"])
def test_anything_else_is_a_client_error(typed):
    with pytest.raises(ClientError, match="not a ticket code"):
        ticket_code(typed)


def test_a_phone_number_typed_for_a_code_is_not_repeated_in_the_refusal():
    """(the notifier's 400 for /v1/tickets/13987650123/deliveries quoted the number)"""
    with pytest.raises(ClientError, match="not a ticket code") as refused:
        ticket_code("13987650123")
    assert "13987650123" not in str(refused.value)
    with pytest.raises(ClientError, match="'hello' is not a ticket code"):
        ticket_code("hello")
