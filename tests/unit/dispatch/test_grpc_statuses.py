"""Every refusal of the department API has a status and a reason; a store that is restarting
is UNAVAILABLE (retry), never INTERNAL (seen 3 times in a chaos run's PostgreSQL kill)."""

import grpc
import psycopg
import pytest
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg_pool import PoolTimeout

from backbone.store import STORE_UNAVAILABLE_REASON
from services.dispatch.entrypoints.grpc_api import status_for


@pytest.mark.parametrize("exc", [
    psycopg.OperationalError("server closed the connection unexpectedly"),
    psycopg.InterfaceError("the connection is closed"),
    PoolTimeout("couldn't get a connection after 30 sec"),
    StoreOperationalError("terminating connection due to administrator command"),
])
def test_a_store_out_of_reach_is_unavailable_with_a_reason(exc):
    code, reason = status_for(exc)
    assert code is grpc.StatusCode.UNAVAILABLE
    assert reason == STORE_UNAVAILABLE_REASON


def test_a_bug_is_still_internal_and_names_no_detail():
    code, reason = status_for(RuntimeError("secret detail 13800138000"))
    assert code is grpc.StatusCode.INTERNAL
    assert "13800138000" not in reason and "trace id" in reason


def test_a_value_that_cannot_be_stored_is_the_callers_error():
    code, reason = status_for(psycopg.DataError("invalid byte sequence 0x00"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot be stored" in reason
