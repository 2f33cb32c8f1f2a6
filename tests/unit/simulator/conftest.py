import pytest

from tools.simulator import SimPlan, build_plan


@pytest.fixture(scope="session")
def month() -> SimPlan:
    """The demo month: 30 days at ~300 a day, seed 7 (built once for the whole session)."""
    return build_plan(seed=7, days=30, per_day=300)
