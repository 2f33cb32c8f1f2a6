"""The relay's clock and order facts are bounded: the least recently used are forgotten, and a
forgotten one is answered by the read model, as after a restart."""

import uuid

from services.sla.entrypoints.publications import Facts


class _Event:
    def __init__(self, name: str, oid: uuid.UUID, version: int = 1, **values):
        type(self).__qualname__ = name
        self.originator_id, self.originator_version = oid, version
        self.__dict__.update(values)


def _started(oid, number):
    class Started(_Event):
        pass
    return Started("TicketClock.Started", oid, clock_number=number)


def _issued(oid, unit):
    class Issued(_Event):
        pass
    return Issued("SupervisionOrder.Issued", oid, unit=unit)


class ReadModelFacts(Facts):
    """Facts over a dict standing for the read model's rows, counting the reads."""

    def __init__(self, rows, kept):
        super().__init__(None, "sla", kept=kept)
        self.rows, self.reads = rows, 0

    def _one(self, table, column, key, value, default):
        self.reads += 1
        return self.rows.get((table, value), default)


def test_facts_keep_at_most_kept_and_a_forgotten_one_is_read_again():
    clocks = {uuid.uuid4(): 1 + i % 4 for i in range(50)}
    orders = {uuid.uuid4(): f"unit-{i}" for i in range(50)}
    rows = {("sla_clocks", c): n for c, n in clocks.items()}
    rows.update({("sla_orders", o): u for o, u in orders.items()})
    facts = ReadModelFacts(rows, kept=8)
    for c, n in clocks.items():
        facts.learn(_started(c, n))
    for o, u in orders.items():
        facts.learn(_issued(o, u))
    assert len(facts._clock_no) == 8 and len(facts._order_unit) == 8  # the bound holds
    # the latest are answered from memory, the forgotten from the read model: the same answers
    # (newest first: the kept ones are asked before the reads of the others push them out)
    assert [facts.clock_no(c) for c in reversed(clocks)] == list(reversed(clocks.values()))
    assert [facts.order_unit(o) for o in reversed(orders)] == list(reversed(orders.values()))
    assert facts.reads == 2 * (50 - 8)
    assert len(facts._clock_no) == 8 and len(facts._order_unit) == 8


def test_a_fact_in_use_stays_and_an_unknown_one_has_the_default():
    kept = uuid.uuid4()
    facts = ReadModelFacts({}, kept=4)
    facts.learn(_started(kept, 3))
    for _ in range(20):
        facts.learn(_started(uuid.uuid4(), 1))
        assert facts.clock_no(kept) == 3  # used between the others: never the oldest
    assert facts.reads == 0
    assert facts.clock_no(uuid.uuid4()) == 0 and facts.order_unit(uuid.uuid4()) == ""
    assert facts.reads == 2


def test_stored_facts_are_bounded_and_read_the_first_event_again():
    """The audit's reconciliation (`lifecycle_from_store`) walks a whole history with one
    StoredFacts: it keeps `kept` of each, and a forgotten one is the first event read again."""
    from types import SimpleNamespace

    from eventsourcing.application import AggregateNotFoundError

    from services.sla.application.publishing import StoredFacts

    firsts = {uuid.uuid4(): SimpleNamespace(clock_number=1 + n % 3, unit=f"unit-{n}")
              for n in range(30)}
    reads = []

    def get(aggregate_id, version=None):
        assert version == 1
        reads.append(aggregate_id)
        if aggregate_id not in firsts:
            raise AggregateNotFoundError(aggregate_id)
        return firsts[aggregate_id]

    facts = StoredFacts(SimpleNamespace(repository=SimpleNamespace(get=get)), kept=4)
    for _ in range(2):  # twice: the second time, all but the last 4 are read again
        assert [facts.clock_no(c) for c in firsts] == [f.clock_number for f in firsts.values()]
        assert [facts.order_unit(o) for o in firsts] == [f.unit for f in firsts.values()]
        assert len(facts._clock_no) == len(facts._order_unit) == 4
    assert len(reads) == 4 * 30
    assert facts.clock_no(uuid.uuid4()) == 0 and facts.order_unit(uuid.uuid4()) == ""
