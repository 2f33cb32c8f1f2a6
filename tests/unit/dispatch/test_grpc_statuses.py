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


def test_a_reason_never_repeats_personal_data_the_request_held():
    """A department system logs these reasons: a phone or ID number typed for a ticket, a
    unit or a status came back in them (helper-120, fuzzing the API from proto/ alone)."""
    from services.dispatch.application.units import UnknownUnitCodeError
    from services.dispatch.entrypoints.grpc_api import DepartmentApi, Refused

    for exc in (UnknownUnitCodeError("张三丰340102199001011234"),
                UnknownUnitCodeError("13912345678"),
                Refused(grpc.StatusCode.NOT_FOUND, "no ticket 13912345678 or 340102199001011234")):
        _code, reason = status_for(exc)
        assert "13912345678" not in reason and "340102199001011234" not in reason
        assert "张三丰" not in reason or isinstance(exc, Refused)
    with pytest.raises(Refused) as refused:
        DepartmentApi._statuses("张三丰本人")
    assert "张三丰" not in refused.value.reason
    assert status_for(UnknownUnitCodeError("taihe-x"))[1] == \
        "unit 'taihe-x' is not in the unit registry"
    # nor a long one: a 200,000-character to_unit or status came back whole, past gRPC's
    # metadata limit (RESOURCE_EXHAUSTED instead of the reason)
    assert len(status_for(UnknownUnitCodeError("x" * 200_000))[1]) < 200
    with pytest.raises(Refused) as long_status:
        DepartmentApi._statuses("x" * 200_000)
    assert len(long_status.value.reason) < 400


def test_a_call_with_two_tokens_is_refused():
    """Two `authorization` entries: a call was admitted by the last while StreamAssignments
    re-checked the first for expiry and revocation, so revoking the token the stream ran on
    did not end it (helper-120). Which one is meant cannot be known: UNAUTHENTICATED."""
    from types import SimpleNamespace

    from services.dispatch.entrypoints.grpc_api import DepartmentApi, Refused

    api = DepartmentApi.__new__(DepartmentApi)
    context = SimpleNamespace(invocation_metadata=lambda: (
        ("authorization", "Bearer one"), ("authorization", "Bearer two")))
    with pytest.raises(Refused) as refused:
        api._principal(context)  # type: ignore[arg-type]
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "one authorization" in refused.value.reason
