"""The next batch's first part, made while a batch's COMMIT is in flight
(GroupCommitter._take_ahead, _made_ahead, rest_sizes): what is taken, what is made, when it is
not used."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from backbone import group_commit
from backbone.group_commit import PART_EVENTS, GroupCommitter, _made_ahead, part_sizes, rest_sizes
from backbone.store import EventContext


class _Aggregate:
    def __init__(self, events: int = 1) -> None:
        self.id = uuid.uuid4()
        self.pending_events: list[Any] = [object() for _ in range(events)]


class _App:
    """What _take_ahead reads of an application: its mapper; a save of its own."""

    events = SimpleNamespace(mapper=SimpleNamespace(to_stored_event=lambda e: ("stored", e)))

    def save(self, *aggregates: Any, **_: Any) -> None:
        pass


def _committer(outbox: Any = None) -> GroupCommitter:
    app = _App()
    committer = GroupCommitter(app, service="unit-ahead")  # type: ignore[arg-type]
    committer.close()  # its thread gone: the queue is the test's
    committer._stopping = False
    committer.outbox = outbox
    return committer


def _command(*aggregates: _Aggregate) -> tuple[Any, ...]:
    return (aggregates, EventContext(ticket_id=str(uuid.uuid4())), None, (), None)


def test_rest_sizes_cover_what_is_left_and_end_small():
    for n in range(2, 760):
        for made in range(1, min(n, PART_EVENTS + 1)):
            sizes = rest_sizes(n - made)
            assert sum(sizes) == n - made
            assert all(0 < s <= PART_EVENTS for s in sizes)
            assert sizes[-1] <= max(1, (n - made) * 31 // 100)
            assert len(sizes) == 1 or sizes[-1] <= sizes[-2]
    assert rest_sizes(144) == [100, 44]
    assert rest_sizes(198) == [76, 75, 47]
    assert rest_sizes(599) == [138, 138, 138, 138, 47]
    assert rest_sizes(0) == []
    assert part_sizes(200) == [100, 70, 30]  # without a part made ahead: as before


def test_what_is_queued_is_taken_and_made_in_order_with_its_contexts():
    encoded: list[int] = []
    committer = _committer(outbox=lambda chunk: encoded.append(len(chunk)) or [b"m"] * len(chunk))
    commands = [_command(_Aggregate(2)), _command(_Aggregate(), _Aggregate())]
    for c in commands:
        committer._queue.put(c)
    committer._take_ahead({uuid.uuid4(): EventContext()})
    taken, part, _ = committer._ahead  # type: ignore[misc]
    assert taken == commands
    events = [(e, c[1]) for c in commands for a in c[0] for e in a.pending_events]
    assert part == ([("stored", e) for e, _ in events], [b"m"] * 4, [c for _, c in events])
    assert encoded == [4]  # the relay's messages made in one call
    assert _made_ahead(committer._ahead, [*events, (object(), EventContext())]) is part
    committer._take_ahead({})  # a retried round: nothing taken twice
    assert committer._ahead[0] == commands  # type: ignore[index]


def test_nothing_is_made_ahead_for_an_aggregate_of_the_committing_batch_or_twice_taken():
    committer = _committer()
    shared = _Aggregate()
    committer._queue.put(_command(_Aggregate()))
    committer._queue.put(_command(shared))
    committer._take_ahead({shared.id: EventContext()})
    assert committer._ahead is not None and len(committer._ahead[0]) == 2
    assert committer._ahead[1] is None  # taken (the next batch starts with them), not made
    assert _made_ahead(committer._ahead, []) is None

    committer = _committer()
    twice = _Aggregate()
    committer._queue.put(_command(twice))
    committer._queue.put(_command(twice))
    committer._take_ahead({})
    assert committer._ahead is not None and committer._ahead[1] is None


def test_a_part_that_fails_to_be_made_is_left_to_its_batch_and_close_is_kept():
    committer = _committer(outbox=lambda chunk: 1 / 0)
    command = _command(_Aggregate())
    committer._queue.put(command)
    committer._queue.put(None)  # close()
    committer._take_ahead({})  # does not raise
    assert committer._ahead == ([command], None, [])
    assert committer._stopping


def test_a_part_made_ahead_is_not_used_once_its_events_changed():
    committer = _committer()
    aggregate = _Aggregate(2)
    committer._queue.put(_command(aggregate))
    committer._take_ahead({})
    ahead = committer._ahead
    context = ahead[0][0][1]  # type: ignore[index]
    same = [(e, context) for e in aggregate.pending_events]
    assert _made_ahead(ahead, same) is ahead[1]  # type: ignore[index]
    assert _made_ahead(ahead, same[:1]) is None  # one taken since
    assert _made_ahead(ahead, [(object(), context), same[1]]) is None  # another event
    assert _made_ahead(ahead, [(e, EventContext()) for e, _ in same]) is None  # another context


def test_at_most_a_parts_worth_is_taken(monkeypatch):
    monkeypatch.setattr(group_commit, "PART_EVENTS", 5)
    committer = _committer()
    for _ in range(9):
        committer._queue.put(_command(_Aggregate(2)))
    committer._take_ahead({})
    # 6 events: the third command crossed 5
    assert len(committer._ahead[0]) == 3  # type: ignore[index]
    assert committer._queue.qsize() == 6
