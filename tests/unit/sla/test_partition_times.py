"""The SLA consumer's event-time bookkeeping: partition times commit with the positions that
cover them (never ahead of what is applied), and a batch split by a poison message re-enters
`apply` without waiting for its own lock."""

import datetime as dt
import threading
import uuid

from aiokafka.structs import ConsumerRecord

from backbone import events
from backbone.consumer import Handlers, PoisonMessageError
from backbone.store import Progress
from services.sla.entrypoints.lifecycle import SlaConsumer
from services.sla.entrypoints.publications import Facts
from services.sla.settings import SlaSettings

T0 = dt.datetime(2024, 11, 4, 10, 0, tzinfo=dt.UTC)


def record(offset: int, minutes: int, producer: str = "dispatch", partition: int = 0):
    kind = "DeadlineSet" if producer == "sla" else "TicketAssigned"
    env = events.make_envelope(payload=events.catalogue()[kind].message_class(),
                               event_id=str(uuid.uuid4()), ticket_id="T-1", ticket_code="FY",
                               producer=producer, occurred_at=T0 + dt.timedelta(minutes=minutes))
    return ConsumerRecord("tickets.events", partition, offset, 0, 0, b"T-1",
                          env.SerializeToString(), None, 3, 10, events.kafka_headers(env))


def consumer(clock: str = "event") -> SlaConsumer:
    return SlaConsumer(name="sla-lifecycle", settings=SlaSettings(clock=clock), pool=None,
                       topics=["tickets.events"], handlers=Handlers({}), producer=None,
                       lock=threading.Lock())


def test_times_ride_with_the_positions_that_cover_them():
    c = consumer()
    c._note_times([record(0, 1), record(1, 5), record(2, 9), record(3, 30, producer="sla"),
                   record(0, 7, partition=1)])
    progress = Progress("sla-lifecycle")
    progress.advance("tickets.events", 0, 1, None)  # offsets 0 and 1 applied, 2 not yet
    (rider,) = c._riders(progress)
    assert rider.params == (["tickets.events"], [0], [T0 + dt.timedelta(minutes=5)])
    c._committed(progress)
    progress = Progress("sla-lifecycle")
    progress.advance("tickets.events", 0, 3, None)  # offset 3 is sla's own: no time of its own
    (rider,) = c._riders(progress)
    assert rider.params[2] == [T0 + dt.timedelta(minutes=9)]
    c._committed(progress)
    assert list(c._times) == [("tickets.events", 1)]  # what no commit covered yet stays


def test_times_on_the_wall_clock_too():
    """The wall clock's timers are capped by them (timers.TimeSource): noted in both modes."""
    c = consumer("wall")
    c._apply = lambda records, **kw: None
    c.apply([record(0, 1), record(1, 2, producer="sla")])
    assert c._times == {("tickets.events", 0): {0: T0 + dt.timedelta(minutes=1)}}


def test_a_batch_split_by_poison_does_not_wait_for_its_own_lock():
    c = consumer()
    applied: list[list[int]] = []
    batch = [record(0, 1), record(1, 2), record(2, 3)]

    def apply_(records, skip=False, check_copies=False):
        if len(records) > 1:
            raise PoisonMessageError(records[1], "bad")
        applied.append([r.offset for r in records])

    c._apply = apply_
    done = threading.Event()
    worker = threading.Thread(target=lambda: (c.apply(batch), done.set()), daemon=True)
    worker.start()
    assert done.wait(5), "apply deadlocked on the consumer's own lock"
    assert applied == [[0], [1], [2]]
    assert not c.lock.locked()


def test_facts_learn_a_clock_number_from_the_clock_s_first_event(policy, calendar, sh):
    from services.sla.domain.clock import TicketClock

    clock = TicketClock.start(policy, calendar, ticket_id="T-9", clock_number=3,
                              grade="general", accepted_at=sh("2024-11-04 10:00"), graded=True)
    facts = Facts(None, "sla")  # no pool: a read would fail
    facts.learn(clock.collect_events()[0])
    assert facts.clock_no(clock.id) == 3
