"""backbone.clock.CalendarDay: a day as people write it, for query parameters and bodies."""

from datetime import date

import pydantic
import pytest

from backbone.clock import CalendarDay


class Query(pydantic.BaseModel):
    day: CalendarDay | None = None


@pytest.mark.parametrize("given", ["2026-12-07", " 2026-12-07 ", date(2026, 12, 7)])
def test_a_day_written_yyyy_mm_dd_is_read(given):
    assert Query(day=given).day == date(2026, 12, 7)


def test_the_last_day_a_date_picker_offers_is_a_day():
    assert Query(day="9999-12-31").day == date(9999, 12, 31)


@pytest.mark.parametrize("given", [0, "0", 1733500000, "1733500000", "2026-12-7", "07/12/2026",
                                   "2026-12-07T08:00:00", "0925-01-01", "2026-02-30"])
def test_numbers_times_other_forms_and_old_years_are_refused(given):
    with pytest.raises(pydantic.ValidationError):
        Query(day=given)
