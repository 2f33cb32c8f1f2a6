"""The store's append path, session 16: the same bytes as before for

- the Kafka record of an envelope made at commit, written from the values its envelope was made
  from (`events.made_record_body`) instead of read back from the message (`kafka_record_body`);
- murmur2 of many keys at once (`key_hashes.murmur2_many`, its words taken by a strided view);
- the stored event's state written from the event's attributes without a copy
  (`transcoder.StoredEventMapper.to_stored_event`);
- what the group commit hands the recorder (its commands are plain tuples now)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder, Mapper

import tests.unit.test_envelope_bytes as eb
from backbone import events
from backbone.group_commit import GroupCommitter
from backbone.key_hashes import _HASHES, key_hashes, murmur2, murmur2_many
from backbone.relay import (
    OutboxRelay,
    Outgoing,
    Publication,
    _at_commit,
    _prepared,
    prepared_records,
)
from backbone.store import EventContext
from backbone.transcoder import StoredEventMapper, StoredStateTranscoder


def _kinds(owner: str) -> list[Any]:
    return [k.message_class for k in events.catalogue().values() if k.owner == owner]


def _times(rng: random.Random) -> Any:
    return rng.choice([None, datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
                       datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                       datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                       datetime(2020, 2, 29, 12, 0, 0, 1),  # naive: local time
                       datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))])


@pytest.mark.parametrize("owner", sorted({k.owner for k in events.catalogue().values()}))
def test_a_record_made_from_the_envelopes_values_is_the_record_read_from_it(owner: str) -> None:
    rng = random.Random(owner)
    for i in range(300):
        made: dict[int, Any] = {}
        context = eb._context(rng)
        if i % 10 == 0:  # trace ids the one-text path does not take: the general one, same bytes
            context = EventContext(ticket_id="t", trace_id=rng.choice(["文" * 32, "abc", "AB" * 17]))
        pub = _at_commit(eb._Stored(rng), context, owner, made)
        env = pub.envelope(rng.choice(_kinds(owner))(), n=rng.choice([0, 0, 1, 7]),
                           ticket_id=rng.choice(["", "t-1"]), ticket_code=rng.choice(["", "码"]),
                           occurred_at=_times(rng))
        if i % 7 == 0:
            env.payload = b"p" * rng.choice([0, 127, 128, 8191, 8192, 70_000])
        key = rng.choice([b"", b"k", str(uuid.uuid4()).encode(), "键".encode() * 3000])
        assert list(made) == [id(env)] and made[id(env)][0] is env
        seed = rng.getrandbits(32)
        events._spans.seed(seed)
        fast = events.made_record_body(key, made[id(env)])
        events._spans.seed(seed)
        assert fast == events.kafka_record_body(key, env)[1]


def test_only_a_publication_at_commit_keeps_what_its_envelopes_were_made_from() -> None:
    rng = random.Random(4)
    stored, context = eb._Stored(rng), EventContext(ticket_id="t1", trace_id="ab" * 16)
    kind = _kinds("intake")[0]
    pub = Publication(stored, 7, context, "intake")
    env = pub.envelope(kind())
    assert "_made" not in pub.__dict__ and pub == Publication(stored, 7, context, "intake")
    made: dict[int, Any] = {}
    at_commit = _at_commit(stored, context, "intake", made)
    assert at_commit.envelope(kind()) == env  # the same message
    assert at_commit == Publication(stored, 0, context, "intake")  # fields as before
    assert type(at_commit) is Publication


def test_the_outbox_bytes_made_at_commit_are_the_records_sent_otherwise() -> None:
    """Envelopes made at commit (several a publication, one reused by two messages, others
    changed after they were made only in their payload), messages that are not Envelopes,
    translates that publish nothing or fail: record for record what the relay sends when it
    translates the stored event itself."""
    rng = random.Random(16)

    class Reply:
        event_type, producer = "IntakeReply", "intake"

        def __init__(self, event_id: str, trace_id: str) -> None:
            self.event_id, self.trace_id = event_id, trace_id

        def SerializeToString(self) -> bytes:  # noqa: N802
            return b"reply:" + self.event_id.encode()

    def translate(pub: Publication) -> list[Outgoing]:
        r = rng.random()
        if r < 0.1:
            return []
        if r < 0.2:
            return [Outgoing("replies", "req", Reply("e", pub.context.trace_id or "x" * 32))]
        env = pub.envelope(rng.choice(_kinds("intake"))())
        out = [Outgoing("tickets.events", env.ticket_id, env)]
        if r > 0.7:
            out.append(Outgoing("other", "key-" + env.event_id, env))
            second = pub.envelope(rng.choice(_kinds("intake"))(), n=1, occurred_at=_times(rng))
            second.payload = b"z" * rng.choice([1, 9000])
            out.append(Outgoing("third", "键", second))
        return out

    def failing(pub: Publication) -> list[Outgoing]:
        if pub.event.originator_version == 9:
            raise ValueError("no")
        return translate(pub)

    relay = OutboxRelay.__new__(OutboxRelay)
    relay.translate = failing
    relay.settings = type("S", (), {"service": "intake"})()
    for size in (1, 3, 57, 200):
        batch = [(eb._Stored(rng), eb._context(rng)) for _ in range(size)]
        state = rng.getstate()
        events._spans.seed(size)
        stored = relay._encode_at_commit(batch)  # type: ignore[arg-type]
        rng.setstate(state)
        events._spans.seed(size)
        for (stored_event, context), data in zip(batch, stored, strict=True):
            if stored_event.originator_version == 9:
                assert data is None
                continue
            pub = Publication(stored_event, 0, context, "intake")
            assert data is not None and prepared_records(data) == [
                _prepared(o, o.key.encode(), murmur2(o.key.encode())) for o in translate(pub)]


def test_murmur2_of_many_keys_is_murmur2_of_each() -> None:
    rng = random.Random(2)
    for n in [*range(1, 20), 57, 99, 100, 200, 201, 1000]:
        for length in [*range(1, 14), 35, 36, 37, 100]:
            keys = [rng.randbytes(length) for _ in range(n)]
            assert murmur2_many(keys) == [murmur2(k) for k in keys], (n, length)
    with pytest.raises(ValueError):
        murmur2_many([b"ab", b"abc"])


def test_key_hashes_of_mixed_repeated_and_known_keys() -> None:
    rng = random.Random(3)
    _HASHES.clear()
    keys = [rng.randbytes(rng.choice([0, 1, 3, 36, 36, 36, 40])) for _ in range(400)]
    keys += keys[:60] + [str(uuid.uuid4()).encode() for _ in range(30)]
    assert key_hashes(keys) == [murmur2(k) for k in keys]
    assert key_hashes(keys[::-1]) == [murmur2(k) for k in keys[::-1]]  # all known now
    assert key_hashes([]) == []


class _Case(Aggregate):
    @event("Opened")
    def __init__(self, text: str, due: datetime, ref: uuid.UUID, items: list[Any],
                 amount: Any) -> None:
        self.text, self.due, self.ref, self.items, self.amount = text, due, ref, items, amount

    @event("Renamed")
    def rename(self, text: str) -> None:
        self.text = text


class _Versioned(Aggregate):
    class Opened(Aggregate.Created):
        class_version = 2
        text: str

    @event(Opened)
    def __init__(self, text: str) -> None:
        self.text = text


def test_the_stored_event_is_eventsourcings() -> None:
    """to_stored_event, its state written from the event's attributes without a copy: what
    eventsourcing's own mapper and JSON transcoder store, for plain values, datetimes,
    UUIDs, Decimals, floats written either way (the generic path), a class version > 1."""
    app: Any = Application(env={"TRANSCODER_TOPIC": "backbone.transcoder:StoredStateTranscoder",
                           "MAPPER_TOPIC": "backbone.transcoder:StoredEventMapper"})
    mapper = app.events.mapper
    assert type(mapper) is StoredEventMapper and type(mapper.transcoder) is StoredStateTranscoder
    stock_transcoder = JSONTranscoder()
    for transcoding in mapper.transcoder.types.values():
        stock_transcoder.register(transcoding)
    stock: Any = Mapper(transcoder=stock_transcoder)
    rng = random.Random(5)
    made: list[Any] = [_Versioned(text="v2 文")]
    for _ in range(50):
        made.append(_Case(text=rng.choice(["", "x" * 150, "文字"]),
                          due=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.random()),
                          ref=uuid.uuid4(), items=[1, "a", None, {"k": uuid.uuid4()}],
                          amount=rng.choice([1, 2.5, 1e-9, Decimal("1.10"), True])))
    for aggregate in made:
        for e in aggregate.pending_events:
            ours, theirs = mapper.to_stored_event(e), stock.to_stored_event(e)
            assert (ours.originator_id, ours.originator_version, ours.topic, ours.state) == (
                theirs.originator_id, theirs.originator_version, theirs.topic, theirs.state)


async def test_the_group_commit_hands_the_recorder_each_aggregates_context() -> None:
    """Commands are plain tuples now: a batch's events with each aggregate's context, as
    before; the same aggregate in two commands of one batch is still saved command by command
    (its events once)."""
    app: Any = Application(env={"TRANSCODER_TOPIC": "backbone.transcoder:StoredStateTranscoder",
                           "MAPPER_TOPIC": "backbone.transcoder:StoredEventMapper"})
    seen: list[tuple[list[Any], dict[Any, EventContext]]] = []
    recorder: Any = app.events.recorder
    original = recorder.insert_events

    def insert_events(stored_events: Any, **kwargs: Any) -> Any:
        seen.append(([e.originator_id for e in stored_events], dict(kwargs["contexts"])))
        return original(stored_events, **kwargs)

    recorder.insert_events = insert_events
    committer = GroupCommitter(app, service="unit-tuples", max_wait_s=0.05)
    try:
        cases = [_Case(f"t{i}", datetime.now(UTC), uuid.uuid4(), [i], i) for i in range(6)]
        contexts = [EventContext(ticket_id=str(i)) for i in range(6)]
        await asyncio.gather(*[committer.save_async(c, context=x)
                               for c, x in zip(cases, contexts, strict=True)])
        by_id = {c.id: x for c, x in zip(cases, contexts, strict=True)}
        assert sorted(i for ids, _ in seen for i in ids) == sorted(by_id)
        assert all(got[i] is by_id[i] for ids, got in seen for i in ids)
        assert not any(c.pending_events for c in cases)
        assert [app.repository.get(c.id).text for c in cases] == [f"t{i}" for i in range(6)]
        seen.clear()
        twice = cases[2]
        twice.rename("again")
        await asyncio.gather(committer.save_async(twice, context=contexts[2]),
                             committer.save_async(twice, context=contexts[3]))
        assert [ids for ids, _ in seen if ids] == [[twice.id]]
        assert app.repository.get(twice.id).text == "again"
    finally:
        committer.close()
