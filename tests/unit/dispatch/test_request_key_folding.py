"""A keyed command's request key is written by the save's read-model statement, not as a
statement of its own; with no read-model change it stays a statement of its own; every other
statement of the save is left as it was."""

from __future__ import annotations

from typing import Any

import pytest

from backbone.store import Statement, TrackedRecorder
from services.dispatch.adapters import recorder as recorder_module
from services.dispatch.adapters.recorder import DispatchRecorder, RequestKeyRow


class _Datastore:
    schema = "s"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def base(self: Any, curs: Any, stored: Any, **kwargs: Any) -> None:
        seen["sql"] = list(kwargs.get("sql") or ())

    def applied(cur: Any, schema: str, changes: Any, keys: Any = (), events: str = "") -> None:
        seen["applied"] = (list(changes), list(keys), events)

    monkeypatch.setattr(TrackedRecorder, "_insert_events", base)
    monkeypatch.setattr(recorder_module, "apply_changes", applied)
    return seen


def _recorder() -> DispatchRecorder:
    r = object.__new__(DispatchRecorder)
    r.datastore = _Datastore()  # type: ignore[assignment]
    r.events_table_name = "dispatch_events"
    return r


def test_the_key_rides_on_the_read_model_statement(seen):
    key = RequestKeyRow(b"INSERT key", ("k",))
    other = Statement(b"UPDATE other", ())
    _recorder()._insert_events(None, [], readmodel=["change"], sql=[key, other])
    assert seen["sql"] == [other]
    assert seen["applied"] == (["change"], [key], "dispatch_events")


def test_without_a_read_model_change_the_key_is_its_own_statement(seen):
    key = RequestKeyRow(b"INSERT key", ("k",))
    _recorder()._insert_events(None, [], sql=[key])
    assert seen["sql"] == [key] and "applied" not in seen
