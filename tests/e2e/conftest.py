from __future__ import annotations

import pytest

from bench import platform as isolated
from tests.e2e.platform_harness import Platform


@pytest.fixture(scope="module")
def platform(infra):
    """Every service, isolated (own database, topics and ports), for one module: platforms do
    not pile up over a session (each holds ~100 PostgreSQL connections and a dozen processes)."""
    p = Platform()
    p.start_all()
    yield p
    p.stop_all()


@pytest.fixture(scope="module")
def running(infra):
    """An isolated platform in event-clock mode for one module (the simulator drives it)."""
    platform = isolated.start()
    yield platform
    platform.stop_all()
