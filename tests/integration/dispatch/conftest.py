from __future__ import annotations

import pytest

from tests.integration.dispatch.harness import DispatchUnderTest


@pytest.fixture(scope="module")
async def dispatch(infra):
    """The dispatch service with auto-accepted replies (the default), one per test module."""
    service = DispatchUnderTest(infra)
    service.start()
    await service.open_kafka()
    yield service
    await service.close_kafka()
    service.stop()


@pytest.fixture(scope="module")
async def department(dispatch):
    channel, stub = dispatch.department()
    yield stub
    await channel.close()
