import datetime as dt

import pytest

from services.sla.domain.calendar import SHANGHAI, WorkingCalendar
from services.sla.domain.policy import SlaPolicy, load_policy


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture(scope="session")
def policy() -> SlaPolicy:
    return load_policy()


def at(text: str) -> dt.datetime:
    """'2024-09-30 10:00' in Asia/Shanghai."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def sh():
    return at
