"""Event time for the timers: a watermark over the lifecycle topic's partitions.

In MINSHENG_CLOCK=event mode the timers run on the time of the events consumed, not on the
wall clock. The watermark is the latest upstream event time applied per partition, and the
timers may fire up to the *smallest* of those among partitions that still have unread
messages: every unread message of such a partition is at least that late (a ticket's events
sit in one partition, in time order), so nothing fires that an unread fact could have
prevented. A partition with nothing left to read does not hold the watermark back (it would
stop every timer at the end of a replay). That is what makes a replayed month fire the same
events at the same instants, however the consumer's batches happen to be cut.

The per-partition times live in PostgreSQL, so after a restart the timers resume from where
the last run left them (and fire, once, what fell due while the service was down).

On the wall clock (production) the same rule caps wall time (``wall_bound``): timers fire up
to wall time, or to the time of the slowest partition this replica holds that still has
unread messages, whichever is earlier, so a backlog is read before what it could prevent
fires. A command is bounded by its own ticket's partition (``command_bound``,
application/gate.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from psycopg.sql import SQL, Composed, Identifier

from backbone.store import Statement

PartitionTimes = dict[tuple[str, int], dt.datetime]


def times_statement(schema: str, times: PartitionTimes) -> Statement:
    """One statement for every partition's time (the consumer commits it with the positions
    the times were reached at); a time never moves back."""
    keys = list(times)
    return Statement(_times_sql(schema), ([t for t, _ in keys], [p for _, p in keys],
                                          [times[k] for k in keys]))


@functools.cache
def _times_sql(schema: str) -> Composed:
    return SQL("INSERT INTO {}.sla_partition_times (topic, partition, event_time)"
               " SELECT * FROM unnest(%b::text[], %b::int4[], %b::timestamptz[])"
               " ON CONFLICT (topic, partition) DO UPDATE SET event_time ="
               " GREATEST(sla_partition_times.event_time, EXCLUDED.event_time)"
               ).format(Identifier(schema))


def times_and_positions(conn: psycopg.Connection[Any], schema: str, consumer: str
                        ) -> tuple[PartitionTimes, dict[tuple[str, int], int],
                                   dt.datetime | None]:
    """The partitions' times, the consumer's positions and the earliest instant anything is
    owed (readmodel.next_due: None if nothing is) in one statement (one snapshot)."""
    rows = conn.execute(_times_and_positions(schema), (consumer,)).fetchall()
    return _split(rows)


def _split(rows: list[Any]) -> tuple[PartitionTimes, dict[tuple[str, int], int],
                                     dt.datetime | None]:
    """Rows of (topic, partition, event time, NULL) and (topic, partition, NULL, position),
    and one (NULL, NULL, instant owed, NULL): the times, the positions, the instant."""
    times: PartitionTimes = {}
    applied: dict[tuple[str, int], int] = {}
    next_due = None
    for topic, partition, at, offset in rows:
        if topic is None:
            next_due = at
        elif at is not None:
            times[(topic, partition)] = at
        elif offset is not None:
            applied[(topic, partition)] = offset
    return times, applied, next_due


@functools.cache
def _times_and_positions(schema: str) -> Composed:
    s = Identifier(schema)
    return SQL("SELECT topic, partition, event_time, NULL::int8 FROM {}.sla_partition_times"
               " UNION ALL SELECT topic, partition, NULL, next_offset"
               " FROM {}.consumer_positions WHERE consumer = %s"
               " UNION ALL SELECT NULL, NULL, least((SELECT min(next_due_at) FROM {}.sla_clocks),"
               " (SELECT min(next_due_at) FROM {}.sla_orders)), NULL").format(s, s, s, s)


def partition_state(conn: psycopg.Connection[Any], schema: str, consumer: str, topic: str,
                    partition: int) -> tuple[PartitionTimes, dict[tuple[str, int], int]]:
    """One partition's recorded time and the consumer's position there (one statement), as
    ``times_and_positions`` gives them for every partition: a command's ticket's bound."""
    rows = conn.execute(_partition_state(schema), (topic, partition, consumer, topic,
                                                   partition)).fetchall()
    times, applied, _ = _split(rows)
    return times, applied


@functools.cache
def _partition_state(schema: str) -> Composed:
    s = Identifier(schema)
    return SQL("SELECT topic, partition, event_time, NULL::int8 FROM {}.sla_partition_times"
               " WHERE topic = %s AND partition = %s"
               " UNION ALL SELECT topic, partition, NULL, next_offset FROM {}.consumer_positions"
               " WHERE consumer = %s AND topic = %s AND partition = %s").format(s, s)


def command_bound(at: dt.datetime, partition: int, times: PartitionTimes,
                  applied: dict[tuple[str, int], int], ends: dict[tuple[str, int], int]
                  ) -> tuple[dt.datetime | None, str]:
    """Wall clock: the instant a command at ``at`` may fire its ticket's owed items up to,
    the ticket's lifecycle partition being ``partition``: ``wall_bound`` with that partition
    alone (the ticket's facts are there, in time order; another partition's lag is other
    tickets'). ``at`` when it is caught up or has read up to ``at``; None: it lags and no
    time is recorded for it (hold)."""
    return wall_bound(at, times, applied, ends, frozenset({partition}))


def could_fire(bound: dt.datetime | None, next_due: dt.datetime | None) -> bool:
    """Whether a watermark of at most `bound` could reach the earliest instant owed.

    The watermark reckoned with end offsets asked for earlier is such a bound for the one
    reckoned with the ends now: a partition behind its old end is behind its end now (ends
    only grow, positions are read now); one caught up with its old end may have more since,
    which can only hold the watermark further back."""
    return bound is not None and next_due is not None and next_due <= bound


def watermark(times: PartitionTimes, lagging: set[tuple[str, int]]) -> dt.datetime | None:
    """The instant timers may fire up to (see the module docstring); None before any event."""
    behind = [at for tp, at in times.items() if tp in lagging]
    if behind:
        return min(behind)
    return max(times.values(), default=None)


def wall_bound(wall: dt.datetime, times: PartitionTimes, applied: dict[tuple[str, int], int],
               ends: dict[tuple[str, int], int], owned: frozenset[int] | None = None
               ) -> tuple[dt.datetime | None, str]:
    """Wall clock: the instant timers may fire up to, and if it is held back, why.

    ``wall`` (wall time minus the grace) capped by the time of every partition that still
    has unread messages (``applied`` < ``ends``): the same rule as the watermark, so a
    transfer, reply or close dated before a deadline and sitting unread (a backlog, a slow
    consumer) is applied before it fires; a partition with nothing left to read does not
    hold anything back. ``owned``: the partitions whose tickets this replica fires (None:
    all); another replica's lag is its own. None: a lagging partition has no recorded time
    yet (the first start after the upgrade that records times on the wall clock): hold
    until the consumer has read it. Holding gives a bound never later than the one reckoned
    with ends asked for earlier (``could_fire``'s argument), None being the earliest."""
    lagging = sorted(tp for tp, end in ends.items()
                     if applied.get(tp, 0) < end and (owned is None or tp[1] in owned))
    missing = [tp for tp in lagging if tp not in times]
    if missing:
        return None, ("no upstream time recorded yet for lagging partition(s) "
                      + ", ".join(f"{t}[{p}]" for t, p in missing))
    if not lagging:
        return wall, ""
    slowest = min(lagging, key=lambda tp: times[tp])
    if times[slowest] >= wall:
        return wall, ""
    return times[slowest], (f"{slowest[0]}[{slowest[1]}] has unread messages; read up to"
                            f" {times[slowest].isoformat()}")


class EndOffsets:
    """Asks the broker how far each partition of the topic goes (no consumer group)."""

    def __init__(self, kafka: dict[str, object], topic: str, producer: AIOKafkaProducer):
        """`kafka`: the client options (backbone.kafka.client_options)."""
        self.topic = topic
        self.producer = producer  # its partitions_for() waits for the topic's metadata
        self.client = AIOKafkaConsumer(**kafka, group_id=None,  # type: ignore[arg-type]
                                       client_id="minsheng-sla-watermark",
                                       enable_auto_commit=False)
        self.started = False
        # the timer round and commands (http_api) both ask: the client is started once
        self._starting = asyncio.Lock()

    async def fetch(self) -> dict[tuple[str, int], int] | None:
        """End offsets of every partition, or None when the broker cannot say yet."""
        if not self.started:
            async with self._starting:
                if not self.started:
                    await self.client.start()
                    self.started = True
        partitions = await self.producer.partitions_for(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        ends = await self.client.end_offsets(tps) if tps else {}
        if not tps or len(ends) != len(tps):
            return None
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def close(self) -> None:
        if self.started:
            await self.client.stop()
