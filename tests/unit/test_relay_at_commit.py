"""The relay's messages made at commit: the Publication and Outgoing objects made there without
the frozen dataclasses' per-field __init__ behave as theirs, and what `_encode_at_commit`
stores for an event is, record for record, what the relay sends when it translates the stored
event itself."""

from __future__ import annotations

import dataclasses
import pickle
import random
import uuid

import pytest
from minsheng.v1 import envelope_pb2

import tests.unit.test_envelope_bytes as eb
from backbone import events
from backbone.key_hashes import key_hash
from backbone.relay import (
    OutboxRelay,
    Outgoing,
    Publication,
    _at_commit,
    _prepared,
    prepared_records,
)
from backbone.store import EventContext


def test_outgoing_and_the_publication_at_commit_are_the_dataclasses_they_were() -> None:
    env = envelope_pb2.Envelope(event_id="e1")
    made = Outgoing("tickets.events", "t1", env)
    assert made == Outgoing(topic="tickets.events", key="t1", envelope=env)
    assert dataclasses.replace(made, key="t2").key == "t2" and made.key == "t1"
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.key = "x"  # type: ignore[misc]
    event, context = eb._Stored(random.Random(3)), EventContext(ticket_id="t1")
    pub = _at_commit(event, context, "intake")
    assert type(pub) is Publication and pub == Publication(event, 0, context, "intake")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pub.producer = "dispatch"  # type: ignore[misc]


def test_the_outbox_bytes_made_at_commit_are_the_records_sent_otherwise() -> None:
    rng = random.Random(9)
    kinds = [k for k in events.catalogue().values() if k.owner == "intake"]

    def translate(pub: Publication) -> list[Outgoing]:
        env = pub.envelope(rng.choice(kinds).message_class(), n=0)
        return [Outgoing("tickets.events", env.ticket_id, env),
                Outgoing("other", "key-" + env.event_id, env)]

    relay = OutboxRelay.__new__(OutboxRelay)
    relay.translate = translate
    relay.settings = type("S", (), {"service": "intake"})()
    batch = [(eb._Stored(rng), EventContext(ticket_id=str(uuid.uuid4()), trace_id=t))
             for t in ("", "ab" * 16, "")]
    state = rng.getstate()
    events._spans.seed(11)
    stored = [prepared_records(b) for b in relay._encode_at_commit(batch)]  # type: ignore[arg-type]
    rng.setstate(state)
    events._spans.seed(11)
    sent = [[_prepared(o, o.key.encode(), key_hash(o.key.encode()))
             for o in translate(Publication(event, 0, context, "intake"))]
            for event, context in batch]
    assert len(stored) == 3 and stored == sent
