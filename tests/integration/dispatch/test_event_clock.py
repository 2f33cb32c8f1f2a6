"""With MINSHENG_CLOCK=event (the city simulator), the stated times are THE times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_api_pb2 as api

from tests.integration.dispatch.harness import TERRITORIAL, DispatchUnderTest

pytestmark = pytest.mark.integration
ACCEPTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a simulated Monday morning


@pytest.fixture(scope="module")
async def dispatch(infra):
    service = DispatchUnderTest(infra, MINSHENG_CLOCK="event")
    service.start()
    await service.open_kafka()
    yield service
    await service.close_kafka()
    service.stop()


def ts(when: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(when)
    return t


async def test_event_times_drive_deadlines_and_envelopes(dispatch, department):
    ticket_id, code = await dispatch.submit(TERRITORIAL, at=ACCEPTED)
    [assigned] = await dispatch.wait_for(ticket_id, "TicketAssigned")
    assert assigned.occurred_at == ACCEPTED
    md = dispatch.unit_md("yingdong")
    late = ACCEPTED + timedelta(hours=25)  # past the 24 h bounce-back window
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await department.BounceBack(api.BounceBackRequest(
            ticket_code=code, reason="不归我们", at=ts(late)), metadata=md)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "may bounce back only until" in refused.value.details()
    await department.SignFor(api.SignForRequest(ticket_code=code, at=ts(late)), metadata=md)
    [signed] = await dispatch.wait_for(ticket_id, "AssignmentSignedFor")
    assert signed.occurred_at == late
