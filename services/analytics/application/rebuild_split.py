"""A rebuild on two cores: the tickets split between this process and a forked worker.

One process reading, decoding, normalising, writing COPY text and folding does ~15 µs of
Python per fact, one core's work while the other idles (docs/profiles/analytics-rebuild.md).
Here this process reads the ledger and sends each counted envelope whose ticket is the
worker's (by the last character of the ticket id) to a worker forked before anything was
read; each side decodes, normalises, writes COPY text and folds its own tickets, so every
ticket is folded whole, from all its facts, by one side. This process relays the worker's
COPY text (bytes, never decoded again) into its one COPY, in its one transaction, and adds the
worker's KPI sums to its own (the KPI state is a sum over tickets: `fold.add_into`).

Exactly what one process gives, or nothing: an envelope is routed by its ticket id as
protobuf writes it first (event_id = 1, ticket_id = 2), copies of one event id go where the
first copy went (the first copy is the one kept, as in one process), and each side checks
that every fact it keeps is its own ticket's. A fact the split cannot place (an event id
repeated under another ticket, an envelope encoded unlike protobuf encodes it) raises
`SplitError`, and an event id kept on both sides fails the COPY: the transaction rolls back
and `rebuild` starts again in one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from google.protobuf.message import DecodeError
from minsheng.v1.envelope_pb2 import Envelope

from backbone import events
from services.analytics.adapters.fact_store import copy_lines
from services.analytics.application.normalise import NORMALISERS, UnusableFactError, fact_of_raw
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import (
    ASSIGNING,
    LiveKpis,
    add_into,
    drop_empty_buckets,
    units_assigned,
)
from services.analytics.domain.kpis import KpiModel

BATCH = 500  # facts per piece of COPY text
SEND = 256  # envelopes per write to the worker
PROGRESS = 1000  # entries read between progress calls
ENTRY = struct.Struct(">II")  # to the worker: the entry's place in the read, envelope length
MESSAGE = struct.Struct(">cI")  # from the worker: what (b"C", b"D", b"R", b"E"), length
END = 0xFFFFFFFF  # ENTRY's place of the last message to the worker
PIPE_BYTES = 1 << 20
# Which side folds a ticket, by the hash of its id (a forked worker has this process's hash
# seed). This process also reads the ledger, routes it and joins the worker's sums: the
# worker takes 10 of 16 parts.
PARTS, WORKER_PARTS = 16, 10
Sender = Callable[[bytes], None]
Kinds = dict[str, tuple[int, str]]  # unit -> (place of the ticket that set it last, kind)


class SplitError(RuntimeError):
    """A fact the split could not give to the side folding its ticket."""


def side_of(ticket_id: str) -> int:
    """0: this process folds the ticket, 1: the worker."""
    return _side(ticket_id.encode())


def _side(ticket_id: bytes) -> int:
    return 1 if hash(ticket_id) % PARTS < WORKER_PARTS else 0


def peek(raw: bytes) -> tuple[bytes, int]:
    """(event id, side of its ticket) of an envelope: read off its first two fields when they
    are where protobuf writes them, else from the decoded envelope (b"" and 0 when it does not
    decode: this process then refuses it as one process would)."""
    try:
        if raw[0] == 0x0A:
            n = raw[1]
            if n < 0x80 and raw[2 + n] == 0x12:
                m = raw[3 + n]
                if 0 < m < 0x80 and len(raw) >= 4 + n + m:
                    return raw[2:2 + n], _side(raw[4 + n:4 + n + m])
    except IndexError:
        pass
    try:
        env = Envelope.FromString(raw)
    except DecodeError:
        return b"", 0
    return env.event_id.encode(), side_of(env.ticket_id)


class Side:
    """One side's facts: collect_facts's bookkeeping, plus the place each ticket was first
    seen at (the order one process would have met the tickets in)."""

    def __init__(self, side: int, keep: Callable[[list[Fact]], None]) -> None:
        self.side, self.keep = side, keep
        self.tickets: dict[str, dict[str, Fact]] = {}
        self.first: dict[str, int] = {}
        self.seen: set[str] = set()
        self.batch: list[Fact] = []
        self.kept = self.skipped = 0

    def take(self, place: int, raw: bytes) -> None:
        try:
            fact = fact_of_raw(raw)
        except (events.EnvelopeError, UnusableFactError):
            self.skipped += 1
            return
        if fact is None or fact.event_id in self.seen:
            return
        if side_of(fact.ticket_id) != self.side:
            raise SplitError(f"fact {fact.event_id} reached the side not folding its ticket")
        self.seen.add(fact.event_id)
        facts = self.tickets.get(fact.ticket_id)
        if facts is None:
            facts = self.tickets[fact.ticket_id] = {}
            self.first[fact.ticket_id] = place
        facts[fact.event_id] = fact
        self.batch.append(fact)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.kept += len(self.batch)
            self.keep(self.batch)
            self.batch = []

    def kinds(self) -> Kinds:
        """What LiveKpis.of_tickets's unit kinds are made of, with the place of the ticket that
        set each: one process's unit kind is the last non-empty one in ticket order."""
        kinds: Kinds = {}
        for ticket_id, facts in self.tickets.items():
            place = self.first[ticket_id]
            for f in facts.values():
                if f.kind in ASSIGNING:
                    kind = f.get("unit_kind")
                    for unit, _ in units_assigned(f):
                        if kind:
                            kinds[unit] = (place, kind)
                        else:
                            kinds.setdefault(unit, (-1, ""))
        return kinds


# -- the worker (a forked child) ------------------------------------------------------------
def _entries(inbox: int) -> Iterator[tuple[int, bytes]]:
    buf = b""
    while True:
        data = os.read(inbox, PIPE_BYTES)
        if not data:
            raise SplitError("the rebuild stopped sending")
        buf = buf + data if buf else data
        pos, n = 0, len(buf)
        while pos + ENTRY.size <= n:
            place, size = ENTRY.unpack_from(buf, pos)
            if place == END:
                return
            end = pos + ENTRY.size + size
            if end > n:
                break
            yield place, buf[pos + ENTRY.size:end]
            pos = end
        buf = buf[pos:]


def _send(outbox: int, what: bytes, body: bytes) -> None:
    data = memoryview(MESSAGE.pack(what, len(body)) + body)
    while data:
        data = data[os.write(outbox, data):]


def _work(inbox: int, outbox: int) -> None:
    """The worker's side: facts of its tickets, their COPY text sent as it is made, then its
    KPI sums."""
    gc.disable()  # short-lived; a full collection would touch (copy) every inherited page
    side = Side(1, lambda facts: _send(outbox, b"C", struct.pack(">I", len(facts))
                                       + copy_lines(facts)))
    for place, raw in _entries(inbox):
        side.take(place, raw)
    side.flush()
    _send(outbox, b"D", b"")
    kpis = LiveKpis.of_tickets(side.tickets)
    model = kpis.model
    _send(outbox, b"R", pickle.dumps(
        (side.kept, side.skipped, model.tickets, model.buckets, model.unmatched_facts,
         kpis.fact_count, kpis.latest, side.kinds()), pickle.HIGHEST_PROTOCOL))


class Worker:
    """The forked worker and the two pipes to it (non-blocking on this side: while the worker
    cannot take more envelopes, its COPY text is taken)."""

    def __init__(self) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        for fd in (to_w, from_w):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        pid = os.fork()
        if pid == 0:  # the worker: never returns, never runs the parent's clean-ups
            code = 0
            try:
                os.close(to_w)
                os.close(from_r)
                _work(to_r, from_w)
            except BaseException as exc:  # reported to the parent, then exit
                code = 1
                with contextlib.suppress(BaseException):
                    _send(from_w, b"E", pickle.dumps((isinstance(exc, SplitError), str(exc))))
            finally:
                os._exit(code)
        os.close(to_r)
        os.close(from_w)
        self.pid, self.outbox, self.inbox = pid, to_w, from_r
        os.set_blocking(to_w, False)
        os.set_blocking(from_r, False)
        self.buf = b""
        self.copied = 0  # facts whose COPY text came
        self.copy_done = False
        self.result: tuple[Any, ...] | None = None

    def send(self, data: bytes, write: Sender) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.outbox, view):]
            except BlockingIOError:
                select.select([self.inbox], [self.outbox], [])
                self.take(write)

    def end(self, write: Sender) -> None:
        self.send(ENTRY.pack(END, 0), write)

    def take(self, write: Sender) -> None:
        """Whatever the worker has sent (without waiting): COPY text to `write`."""
        while True:
            try:
                data = os.read(self.inbox, PIPE_BYTES)
            except BlockingIOError:
                return
            if not data:
                if self.result is not None:
                    return  # done, and gone
                raise RuntimeError("the rebuild's worker stopped before its end")
            self.buf += data
            self._messages(write)

    def wait_for(self, done: Callable[[], bool], write: Sender) -> None:
        while not done():
            select.select([self.inbox], [], [])
            self.take(write)

    def _messages(self, write: Sender) -> None:
        buf, pos, n = self.buf, 0, len(self.buf)
        while pos + MESSAGE.size <= n:
            what, size = MESSAGE.unpack_from(buf, pos)
            start, end = pos + MESSAGE.size, pos + MESSAGE.size + size
            if end > n:
                break
            body = buf[start:end]
            if what == b"C":
                self.copied += struct.unpack_from(">I", body)[0]
                write(body[4:])
            elif what == b"D":
                self.copy_done = True
            elif what == b"R":
                self.result = pickle.loads(body)
            else:
                split, text = pickle.loads(body)
                raise (SplitError if split else RuntimeError)(f"the rebuild's worker: {text}")
            pos = end
        self.buf = buf[pos:]

    def close(self) -> None:
        for fd in (self.outbox, self.inbox):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.result is None:  # failed or abandoned: the worker has nothing left to give
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def collect_split(entries: Iterable[tuple[str, bytes]], worker: Worker, write: Sender,
                  progress: Callable[[int, int], None] | None = None) -> tuple[int, Side]:
    """Read the entries, route each counted one to the side folding its ticket; this side's
    facts are collected here (their COPY text to `write`, with the worker's as it comes).
    Returns (entries read, this side)."""
    mine = Side(0, lambda facts: write(copy_lines(facts)))
    routed: dict[bytes, int] = {}  # event id -> the side its first copy went to
    out: list[bytes] = []
    read = 0
    counted, pack = NORMALISERS, ENTRY.pack
    for event_type, raw in entries:
        read += 1
        if event_type and event_type not in counted:
            continue  # not a fact: never decoded
        event_id, side = peek(raw)
        if event_id:
            side = routed.setdefault(event_id, side)
        if side:
            out += (pack(read, len(raw)), raw)
            if len(out) >= 2 * SEND:
                worker.send(b"".join(out), write)
                out = []
                worker.take(write)
        else:
            mine.take(read, raw)
        if progress and read % PROGRESS == 0:
            progress(read, mine.kept + worker.copied)
    if out:
        worker.send(b"".join(out), write)
    mine.flush()
    worker.end(write)
    return read, mine


def join(mine: LiveKpis, mine_kinds: Kinds, theirs: tuple[Any, ...]) -> tuple[int, int]:
    """Add the worker's KPI sums to this side's state (in place); (its facts, its skipped)."""
    kept, skipped, tickets, buckets, unmatched, fact_count, latest, kinds = theirs
    part = KpiModel()
    part.tickets, part.buckets, part.unmatched_facts = tickets, buckets, unmatched
    add_into(mine.model, part, +1)
    drop_empty_buckets(mine.model)
    mine.fact_count += fact_count
    if latest is not None and (mine.latest is None or latest > mine.latest):
        mine.latest = latest
    merged = mine_kinds | {u: k for u, k in kinds.items()
                           if u not in mine_kinds or k[0] > mine_kinds[u][0]}
    mine.unit_kinds = {u: kind for u, (_, kind) in merged.items()}
    mine.facts = {}  # the worker's facts stay with it: all of them are in the facts table
    return kept, skipped
