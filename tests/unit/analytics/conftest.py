from __future__ import annotations

from datetime import datetime

import pytest

from tests.unit.analytics.simulation import SH, Ticket, simulate


@pytest.fixture(scope="session")
def march() -> tuple[list[Ticket], list[tuple]]:
    return simulate(seed=20240301, n=1500, month_start=datetime(2024, 3, 1, tzinfo=SH))
