from __future__ import annotations

import pytest

from tests.e2e.platform_harness import Platform


@pytest.fixture(scope="session")
def platform(infra):
    """All six services, isolated (own database, topics and ports), for the whole session."""
    p = Platform()
    p.start_all()
    yield p
    p.stop_all()
