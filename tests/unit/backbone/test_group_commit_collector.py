"""Group commit pauses the cyclic garbage collector while it makes and commits a batch, and
gives it back as it found it (backbone.group_commit.GroupCommitter._commit)."""

from __future__ import annotations

import gc
import threading
import time
import uuid
import weakref
from typing import Any

import pytest

from backbone.group_commit import GroupCommitter
from backbone.store import EventContext


class _Aggregate:
    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.pending_events: list[Any] = []


class _App:
    """Notes whether the collector ran while it saved; refuses aggregates named in `refuse`;
    leaves a reference cycle behind each save (garbage only the collector frees)."""

    def __init__(self) -> None:
        self.enabled_while_saving: list[bool] = []
        self.refuse: set[uuid.UUID] = set()
        self.cycles: list[weakref.ref[Any]] = []

    def save(self, *aggregates: Any, **_: Any) -> None:
        self.enabled_while_saving.append(gc.isenabled())
        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        holder = _Holder(cycle)
        cycle["holder"] = holder
        self.cycles.append(weakref.ref(holder))
        if any(a.id in self.refuse for a in aggregates):
            raise ValueError("refused")


class _Holder:
    def __init__(self, value: Any) -> None:
        self.value = value


def _until(condition: Any) -> None:
    """Wait for a condition (the committer thread resumes the collector just after it answers
    the callers)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_paused_while_a_batch_is_saved_and_resumed_after(collector_on):
    app = _App()
    committer = GroupCommitter(app, service="unit-gc")  # type: ignore[arg-type]
    try:
        committer.save(_Aggregate(), context=EventContext())
        _until(gc.isenabled)
        assert app.enabled_while_saving == [False]
        # the cycle left by the save is garbage the collector still frees
        gc.collect()
        assert all(ref() is None for ref in app.cycles)
    finally:
        committer.close()
    assert gc.isenabled()


def test_cycles_made_in_batches_are_collected_between_them_without_being_asked(collector_on):
    """Batches back to back: the collector still runs (between them), with no gc.collect()."""
    app = _App()
    committer = GroupCommitter(app, service="unit-gc")  # type: ignore[arg-type]
    try:
        saves = 0
        while app.cycles == [] or app.cycles[0]() is not None:
            assert saves < 20_000, "the first save's cycle was never collected"
            committer.save(_Aggregate(), context=EventContext())
            saves += 1
        assert not any(app.enabled_while_saving)
    finally:
        committer.close()


def test_a_failed_batch_and_its_retries_resume_the_collector(collector_on):
    app = _App()
    committer = GroupCommitter(app, service="unit-gc", max_wait_s=0.05)  # type: ignore[arg-type]
    try:
        aggregates = [_Aggregate() for _ in range(6)]
        app.refuse.add(aggregates[2].id)
        errors: list[BaseException] = []

        def save(a: _Aggregate) -> None:
            try:
                committer.save(a, context=EventContext())
            except ValueError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(a,)) for a in aggregates]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(errors) == 1
        _until(gc.isenabled)
        assert app.enabled_while_saving and not any(app.enabled_while_saving)
    finally:
        committer.close()
    assert gc.isenabled()


def test_a_collector_the_application_disabled_stays_disabled(collector_on):
    app = _App()
    committer = GroupCommitter(app, service="unit-gc")  # type: ignore[arg-type]
    gc.disable()
    try:
        committer.save(_Aggregate(), context=EventContext())
        committer.save(_Aggregate(), context=EventContext())
        assert app.enabled_while_saving == [False, False]
        assert not gc.isenabled()
    finally:
        gc.enable()
        committer.close()


async def test_async_callers_see_the_collector_resumed_after_their_batch(collector_on):
    app = _App()
    committer = GroupCommitter(app, service="unit-gc")  # type: ignore[arg-type]
    try:
        for _ in range(3):
            await committer.save_async(_Aggregate(), context=EventContext())
        _until(gc.isenabled)
        assert app.enabled_while_saving == [False, False, False]
    finally:
        committer.close()
