"""backbone.store.in_lock_order: the statements that name a lock first, by name; the rest as
given (tests/integration/test_lock_order.py runs it against PostgreSQL)."""

from __future__ import annotations

from backbone.store import Statement, in_lock_order


def test_the_order_keeps_the_statements_that_lock_nothing_as_given() -> None:
    a, b = Statement(b"a", lock="rows:2"), Statement(b"b", lock="rows:1")
    x, y = Statement(b"x"), Statement(b"y")
    assert in_lock_order([x, a, y, b]) == [b, a, x, y]
    unlocked = [x, y]
    assert in_lock_order(unlocked) is unlocked
