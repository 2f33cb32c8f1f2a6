"""The ledger in PostgreSQL: appending one message, the Merkle store, and the reads.

Appends happen inside the consumer's transaction (the one that also records its progress).
A transaction-scoped advisory lock makes appends take turns, so `ledger_seq` (the Merkle leaf
index) is gapless and is the order in which messages were appended even when several replicas
of the audit service share the lifecycle topic's partitions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier

from backbone.store import autocommit
from services.audit.adapters import ledger_arrays as arrays
from services.audit.domain.chain import ChainHead, LedgerEntry, link_entry_and_leaf
from services.audit.domain.merkle import MerkleLedgerTree, NodeKey

ENTRY_COLUMNS = ('ledger_seq, topic, partition, "offset", ticket_id, ticket_seq, event,'
                 " prev_hash, entry_hash")
# what a page of the ledger shows beside the entry (the rest is decoded from its bytes)
PAGE_COLUMNS = ENTRY_COLUMNS + ", event_id, recorded_at"
# what a history's users read beside the entry: the views and the gRPC API recorded_at, a
# unit's check event_type (the envelope's other fields are decoded from the bytes)
HISTORY_COLUMNS = ENTRY_COLUMNS + ", event_type, recorded_at"


CACHE_BUDGET = 524_288  # subtree hashes held at once: 16 MiB as 32-byte strings
LOWEST_CACHED_LEVEL = 2  # subtrees of 4+ entries: a proof reads at most its 2 lowest siblings
HASH_BYTES = 32


class SubtreeHashCache:
    """The Merkle tree's upper levels in memory: loaded whole by the first proof (one query)
    and kept as later proofs read newer subtrees.

    A complete subtree's hash is written once and never changes, so a cached one is as good
    as the stored one for serving proofs (and a proof built from a wrong hash fails against
    the signed root anyway). The lowest cached level is chosen at loading so that the levels
    above fit ``budget`` hashes (a tree of n leaves has about n / 2**(L-1) subtrees at level L
    and up): for 1,000,000 entries level 2 and up, 500,000 hashes, and each entry's proof
    reads its two lowest siblings from the database, with the history. Each level is held as
    one string of its hashes in index order (32 bytes a subtree: 16 MiB for the budget, no
    Python object per hash, nothing for the garbage collector to walk); a level whose stored
    subtrees are not exactly 0..k-1 is not cached (its hashes are read). Loaded whole, not as
    they happen to be read, so every ticket's proofs are served alike, not only re-reads.
    Subtrees completed after the load are kept as proofs read them, at most ``budget // 8``
    of them (the oldest go first), until the next load."""

    def __init__(self, budget: int = CACHE_BUDGET):
        self.budget, self.limit = budget, max(1, budget // 8)
        self.from_level: int | None = None  # None: not loaded yet
        self._levels: list[bytes] = []  # level -> its subtrees' hashes, concatenated
        self._newer: dict[NodeKey, bytes] = {}  # completed after the load, read since
        self._lock = threading.Lock()

    def level_for(self, tree_size: int) -> int:
        """The lowest level whose subtrees, with those above, number at most the budget."""
        per_budget = -(-2 * tree_size // self.budget)
        return max(LOWEST_CACHED_LEVEL, (per_budget - 1).bit_length())

    def load(self, tree_size: int, select: Callable[[int], Mapping[int, bytes]]) -> None:
        """Load the upper levels with ``select(lowest level)`` (level -> its hashes in index
        order, from index 0), once; a request arriving while another loads goes to the
        database meanwhile instead of waiting."""
        if self.from_level is not None or not self._lock.acquire(blocking=False):
            return
        try:
            if self.from_level is None:
                level = self.level_for(tree_size)
                found = select(level)
                top = max(found, default=level - 1)
                self._levels = [b""] * level + [found.get(lv, b"") for lv in range(level, top + 1)]
                self.from_level = level
        finally:
            self._lock.release()

    def get(self, key: NodeKey) -> bytes | None:
        """The cached hash of subtree ``key``, None when it is not cached."""
        return self.lookup()(key)

    def lookup(self) -> Callable[[NodeKey], bytes | None]:
        """:meth:`get` as a plain function over the levels as they are now (a proof set may
        ask hundreds of times: no attribute look-ups per call)."""
        levels, height, newer = self._levels, len(self._levels), self._newer.get

        def get(key: NodeKey) -> bytes | None:
            level, idx = key
            if level < height and idx >= 0:
                at = idx * HASH_BYTES
                h = levels[level][at:at + HASH_BYTES]
                if h:
                    return h
            return newer(key)
        return get

    def path_lookup(self, known: Mapping[NodeKey, bytes]
                    ) -> Callable[[int, int], list[bytes | None]]:
        """``(leaf_index, height) -> the leaf's sibling at each level below height``, lowest
        first: from ``known`` (a query's) below the cached levels, sliced from the levels
        above, None where neither holds it (a proof's ~20 hashes a leaf in one call)."""
        levels, newer, get = self._levels, self._newer.get, known.get
        lowest = self.from_level if self.from_level is not None else len(levels)
        top = len(levels)

        def path(i: int, height: int) -> list[bytes | None]:
            out: list[bytes | None] = [get((lv, (i >> lv) ^ 1)) for lv in range(min(lowest, height))]
            cached = min(height, top)
            if lowest < cached:  # one slice a level (b"": not in the loaded level)
                out += [levels[lv][(at := ((i >> lv) ^ 1) * HASH_BYTES):at + HASH_BYTES]
                        for lv in range(lowest, cached)]
                if b"" in out:
                    out = [h if h != b"" else get((lv, (i >> lv) ^ 1)) or newer((lv, (i >> lv) ^ 1))
                           for lv, h in enumerate(out)]
            out += [get((lv, (i >> lv) ^ 1)) or newer((lv, (i >> lv) ^ 1))
                    for lv in range(max(lowest, cached), height)]
            return out
        return path

    def keep(self, found: Mapping[NodeKey, bytes]) -> None:
        if self.from_level is None:
            return
        with self._lock:
            for key, h in found.items():
                if key[0] >= self.from_level:
                    self._newer[key] = h
            while len(self._newer) > self.limit:
                del self._newer[next(iter(self._newer))]

    def __len__(self) -> int:
        return sum(len(hs) for hs in self._levels) // HASH_BYTES + len(self._newer)


class PgSubtreeHashStore:
    """domain.merkle.SubtreeHashStore on a cursor: the tree's size is the ledger's size
    (``size``: known already, e.g. a signed checkpoint's, so the tree is not asked).

    ``cache``: shared across requests for the upper levels (SubtreeHashCache); verification
    uses no cache, so it always sees what the database holds. ``known``: hashes this request
    read already (a history's lower siblings, LedgerReader.history_with_siblings).
    ``connect`` instead of a cursor: a connection is taken only if a read is needed."""

    def __init__(self, cur: psycopg.Cursor[Any] | None, schema: str, size: int | None = None,
                 cache: SubtreeHashCache | None = None,
                 known: Mapping[NodeKey, bytes] | None = None,
                 connect: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
                 | None = None):
        self.cur, self.s, self._size, self.cache = cur, Identifier(schema), size, cache
        self.schema, self.known, self.connect = schema, known or {}, connect

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Cursor[Any]]:
        """A binary cursor (plain tuples, bytes as stored) on the store's connection."""
        if self.cur is not None:
            with self.cur.connection.cursor(binary=True) as cur:
                yield cur
        else:
            assert self.connect is not None, "a store needs a cursor or a way to connect"
            with self.connect() as conn, conn.cursor(binary=True) as cur:
                yield cur

    def tree_size(self) -> int:
        if self._size is None:
            with self._reading() as cur:
                self._size = ledger_size(cur, self.s)
        return self._size

    @property
    def peek(self) -> Callable[[NodeKey], bytes | None]:
        """A hash held in memory (read with the history, or cached) or None, without a read
        (domain.merkle.PeekableStore; a plain function: a proof set asks ~600 times)."""
        if self.cache is None:
            return self.known.get
        if self.cache.from_level is None:
            self.cache.load(self.tree_size(), self._select_levels)
        known, cached = self.known.get, self.cache.lookup()

        def peek(key: NodeKey) -> bytes | None:
            return known(key) or cached(key)
        return peek

    @property
    def peek_path(self) -> Callable[[int, int], list[bytes | None]]:
        """A leaf's siblings below a height as held in memory (domain.merkle.PeekableStore):
        read with the history below the cached levels, sliced from the cache above."""
        if self.cache is None:
            known = self.known.get
            return lambda i, height: [known((lv, (i >> lv) ^ 1)) for lv in range(height)]
        if self.cache.from_level is None:
            self.cache.load(self.tree_size(), self._select_levels)
        return self.cache.path_lookup(self.known)

    def get_hashes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        found = self.get_some(keys)
        return [found[k] for k in keys]  # a missing node raises KeyError, as the Protocol says

    def get_some(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of those ``keys`` that are stored."""
        if self.cache is None:
            return self._select(keys)
        if self.cache.from_level is None:
            self.cache.load(self.tree_size(), self._select_levels)
        found: dict[NodeKey, bytes] = {}
        missing: list[NodeKey] = []
        known, cached = self.known.get, self.cache.lookup()
        for k in keys:
            h = known(k) or cached(k)
            if h is None:
                missing.append(k)
            else:
                found[k] = h
        if not missing:
            return found
        fetched = self._select(missing)
        self.cache.keep(fetched)
        return found | fetched

    def _select(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        keys = sorted(keys)  # the index is walked in order
        with self._reading() as cur:  # binary parameters too: no text form of the arrays
            rows = cur.execute(_select_nodes(self.schema),
                               ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        return {(level, idx): h for level, idx, h in rows}

    def _select_levels(self, lowest: int) -> dict[int, bytes]:
        """Every stored subtree hash at ``lowest`` and above (all complete, so all final), a
        string of hashes per level in index order, joined by the server (one row a level,
        not a row a hash); a level whose subtrees are not exactly 0..k-1 of 32 bytes each
        (never written so: a damaged table) is left out, and its proofs read the table."""
        with self._reading() as cur:  # streamed: one level in the client's memory at a time
            return {int(level): hashes for level, count, first, last, hashes in cur.stream(
                SQL("SELECT level, count(*), min(idx), max(idx), string_agg(hash, ''::bytea"
                    " ORDER BY idx) FROM {}.merkle_node WHERE level >= %s GROUP BY level")
                .format(self.s), (lowest,))
                if first == 0 and count == last + 1 and len(hashes) == count * HASH_BYTES}

    def add_hashes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        if nodes:  # one statement for the whole batch's nodes
            assert self.cur is not None, "hashes are written with the ledger's transaction"
            self.cur.execute(
                SQL("INSERT INTO {}.merkle_node (level, idx, hash)"  # binary: see append_batch
                    " SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])")
                .format(self.s),
                ([k[0] for k in nodes], [k[1] for k in nodes], list(nodes.values())))
        self._size = new_size


@lru_cache(maxsize=64)
def _select_nodes(schema: str) -> bytes:
    """Rendered once per schema (composing costs more than running it, for a few keys)."""
    return _rendered(SQL("SELECT n.level, n.idx, n.hash FROM {}.merkle_node n"
               " JOIN unnest(%b::smallint[], %b::bigint[]) AS k(level, idx)"
               " ON n.level = k.level AND n.idx = k.idx").format(Identifier(schema)))


def _get(row: Any, i: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[i]


def ledger_size(cur: psycopg.Cursor[Any] | psycopg.Connection[Any], s: Identifier) -> int:
    row = cur.execute(SQL("SELECT coalesce(max(ledger_seq) + 1, 0) AS n FROM {}.ledger")
                      .format(s)).fetchone()
    return int(_get(row, 0, "n"))


@dataclass(frozen=True)
class Message:
    """One consumed message and the envelope fields the ledger indexes it by."""

    topic: str
    partition: int
    offset: int
    raw: bytes
    event_id: str
    ticket_id: str
    ticket_code: str
    event_type: str
    producer: str
    occurred_at: datetime | None


def append(cur: psycopg.Cursor[Any], schema: str, m: Message) -> LedgerEntry | None:
    """Append one message to the ledger, its ticket's chain and the Merkle tree.

    None when the event id is already in the ledger: a republished copy is kept once."""
    return append_batch(cur, schema, [m])[0]


_INSERT_COLUMNS = ('ledger_seq, event_id, topic, partition, "offset", ticket_id, ticket_code,'
                   " ticket_seq, event_type, producer, occurred_at, event, prev_hash, entry_hash")
_INSERT_TYPES = ("bigint", "text", "text", "int", "bigint", "text", "text", "bigint", "text", "text",
                 "timestamptz", "bytea", "bytea", "bytea")


def append_batch(cur: psycopg.Cursor[Any], schema: str,
                 messages: Sequence[Message]) -> list[LedgerEntry | None]:
    """Append messages in their order, under ONE take of the ledger's lock, in three
    statements: the lock; one read (in one snapshot taken under the lock) of the copies
    already kept, the ledger's size, the chain heads of the batch's tickets and the Merkle
    tree's right edge; one write of the entries and the tree's new nodes. Entry i of the
    result is None when message i is a copy (of a kept message or of one earlier in the
    batch)."""
    if not messages:
        return []
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"audit-ledger:{schema}",))
    kept: set[str] = set()
    heads: dict[str, ChainHead] = {}
    edge: dict[NodeKey, bytes] = {}
    size = 0
    # the read's parameters go binary (%b) like the writes'; each row: what it is, and its values
    for tag, text, number, digest in cur.execute(
            _append_read(schema), (arrays.texts([m.event_id for m in messages]),
                                   arrays.texts(sorted({m.ticket_id for m in messages})))
            ).fetchall():
        if tag == "size":
            size = int(number)
        elif tag == "kept":
            kept.add(text)
        elif tag == "head":
            heads[text] = ChainHead(int(number), bytes(digest))
        else:  # "edge": a perfect subtree of the right edge, at level `number`
            edge[(int(number), -1)] = bytes(digest)
    out: list[LedgerEntry | None] = []
    appended: list[tuple[Message, LedgerEntry]] = []
    leaves: list[bytes] = []
    for m in messages:
        if m.event_id in kept:
            out.append(None)
            continue
        kept.add(m.event_id)
        entry, leaf = link_entry_and_leaf(heads.get(m.ticket_id), ledger_seq=size + len(leaves),
                                          topic=m.topic, partition=m.partition, offset=m.offset,
                                          ticket_id=m.ticket_id, event=m.raw)
        heads[m.ticket_id] = ChainHead(entry.ticket_seq, entry.entry_hash)
        appended.append((m, entry))
        leaves.append(leaf)
        out.append(entry)
    if not appended:
        return out
    nodes = _RightEdge(size, {(level, (size >> level) - 1): h for (level, _), h in edge.items()})
    MerkleLedgerTree(nodes).append_leaf_hashes(leaves)
    # one statement writes the entries and the tree's nodes, each table from one array per
    # column (a VALUES list of thousands of placeholders costs more to parse on the client
    # than the insert itself), each array made in binary by ledger_arrays (psycopg's text
    # form of a bytea array escapes every byte of every event, 7x the CPU of the binary
    # form; its binary lists are dumped element by element in Python)
    ms = [m for m, _ in appended]
    es = [e for _, e in appended]
    cur.execute(_append_write(schema), [
        arrays.int8s([e.ledger_seq for e in es]), arrays.texts([m.event_id for m in ms]),
        arrays.texts([m.topic for m in ms]), arrays.int8s([m.partition for m in ms]),
        arrays.int8s([m.offset for m in ms]), arrays.texts([m.ticket_id for m in ms]),
        arrays.texts([m.ticket_code for m in ms]), arrays.int8s([e.ticket_seq for e in es]),
        arrays.texts([m.event_type for m in ms]), arrays.texts([m.producer for m in ms]),
        arrays.timestamptzs([m.occurred_at for m in ms]), arrays.byteas([m.raw for m in ms]),
        arrays.byteas([e.prev_hash for e in es]), arrays.byteas([e.entry_hash for e in es]),
        arrays.int8s([k[0] for k in nodes.new]), arrays.int8s([k[1] for k in nodes.new]),
        arrays.byteas(list(nodes.new.values()))])
    return out


class _RightEdge:
    """domain.merkle.SubtreeHashStore over the tree's right edge as read under the lock: the
    only stored hashes an append needs. The new nodes are kept for the batch's write."""

    def __init__(self, size: int, edge: dict[NodeKey, bytes]):
        self.size, self.edge = size, edge
        self.new: dict[NodeKey, bytes] = {}

    def tree_size(self) -> int:
        return self.size

    def get_hashes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        return [self.edge[k] for k in keys]  # a missing node raises KeyError

    def add_hashes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        self.new.update(nodes)
        self.size = new_size


@lru_cache(maxsize=64)
def _append_read(schema: str) -> bytes:
    """The append's read, rendered once per schema. The right edge of a tree of n leaves: a
    perfect subtree at each level L where n has bit L set, index (n >> L) - 1."""
    return _rendered(SQL(
        "WITH n AS (SELECT coalesce(max(ledger_seq) + 1, 0) AS n FROM {s}.ledger)"
        " SELECT 'size', NULL::text, n, NULL::bytea FROM n"
        " UNION ALL SELECT 'kept', event_id, NULL, NULL FROM {s}.ledger"
        " WHERE event_id = ANY(%b::text[])"
        " UNION ALL (SELECT DISTINCT ON (l.ticket_id) 'head', l.ticket_id, l.ticket_seq,"
        " l.entry_hash FROM {s}.ledger l WHERE l.ticket_id = ANY(%b::text[])"
        " ORDER BY l.ticket_id, l.ticket_seq DESC)"
        " UNION ALL SELECT 'edge', NULL, m.level, m.hash FROM n CROSS JOIN generate_series(0, 62) AS lv"
        " JOIN {s}.merkle_node m ON m.level = lv AND m.idx = (n.n >> lv) - 1"
        " WHERE (n.n >> lv) & 1 = 1").format(s=Identifier(schema)))


@lru_cache(maxsize=64)
def _append_write(schema: str) -> bytes:
    """The append's write, rendered once per schema. Each table's arrays are unnested in the
    select list, in step (PostgreSQL's ProjectSet: a row at a time, in the arrays' order), not
    `SELECT * FROM unnest(a, b, ...)`: that is ROWS FROM (unnest(a), ...), a function scan
    that first copies each of the arrays' elements into a tuplestore of its own and reads them
    back (17 arrays a batch: 2-8 % more of the write's PostgreSQL CPU a row at 500 rows,
    10-16 % at 14-50, session 24). The same rows in the same order either way (each table's
    arrays have one length); ledger_seq and the hashes are the client's, so the order matters
    only for the heap's layout."""
    return _rendered(SQL(
        "WITH entries AS (INSERT INTO {s}.ledger (" + _INSERT_COLUMNS + ") SELECT "
        + ", ".join(f"unnest(%b::{t}[])" for t in _INSERT_TYPES) + ")"
        " INSERT INTO {s}.merkle_node (level, idx, hash)"
        " SELECT unnest(%b::smallint[]), unnest(%b::bigint[]), unnest(%b::bytea[])").format(
        s=Identifier(schema)))


# -- reads --------------------------------------------------------------------------------------


def _siblings(levels: int) -> str:
    """Each entry's sibling subtrees at the ``levels`` lowest levels, lowest first (NULL: not
    complete yet): one index probe each, written out per level (a generated series of levels
    joined per entry cost a sort and a function scan per entry: 0.87 -> 0.50 ms of server
    time for 30 entries at five levels, measured with EXPLAIN ANALYZE)."""
    return ", ARRAY[" + ", ".join(
        f"(SELECT m.hash FROM {{s}}.merkle_node m WHERE m.level = {lv}"
        f" AND m.idx = (l.ledger_seq >> {lv}) # 1)" for lv in range(levels)) + "] AS siblings"


@lru_cache(maxsize=64)
def _history_with_siblings(schema: str, levels: int, by_id: bool) -> bytes:
    """Rendered once per schema and level count (composing costs more than the query)."""
    which = ("%s" if by_id else "(SELECT ticket_id FROM {s}.ledger WHERE ticket_id = %s"
             " OR (ticket_code = %s AND ticket_code <> '') LIMIT 1)")
    return _statement("SELECT " + HISTORY_COLUMNS + _siblings(levels) + " FROM {s}.ledger l"
                      " WHERE ticket_id = " + which + " ORDER BY ticket_seq", schema)


@lru_cache(maxsize=256)
def _statement(template: str, schema: str) -> bytes:
    """``template`` with {s} as the schema, rendered to the bytes psycopg sends, once: a
    composed statement is rendered again at every execute (psycopg caches the parsing of
    bytes and strings, not of Composed objects)."""
    return _rendered(SQL(template).format(s=Identifier(schema)))


def _rendered(query: Composed) -> bytes:
    """The bytes psycopg would make of ``query`` (identifiers quoted without a connection:
    they are the service's own schema and table names)."""
    return query.as_bytes(None)


class LedgerReader:
    """Read-only queries over one ledger schema (a connection per call, from the pool).

    Reads run in autocommit: one round trip each, no BEGIN/COMMIT around a SELECT."""

    def __init__(self, pool: Any, schema: str):
        self.pool, self.schema, self.s = pool, schema, Identifier(schema)
        self.upper_levels = SubtreeHashCache()

    def read_connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A pooled connection in autocommit (backbone.store.autocommit)."""
        return autocommit(self.pool)

    def _rows(self, query: str | bytes, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """``query``: a template with {s} for the schema, or a statement rendered already."""
        if isinstance(query, str):
            query = _statement(query, self.schema)
        # binary: the event bytes come as they are stored, not as hex text to decode
        with self.read_connection() as conn, conn.cursor(row_factory=dict_row,
                                                         binary=True) as cur:
            return cur.execute(query, params).fetchall()

    def ticket_id_for(self, id_or_code: str) -> str | None:
        rows = self._rows(("SELECT ticket_id FROM {s}.ledger WHERE ticket_id = %s"
                          " OR (ticket_code = %s AND ticket_code <> '') LIMIT 1"),
                          (id_or_code, id_or_code))
        return rows[0]["ticket_id"] if rows else None

    def history(self, ticket_id: str) -> list[dict[str, Any]]:
        return self._rows(("SELECT " + HISTORY_COLUMNS + " FROM {s}.ledger WHERE ticket_id = %s"
                          " ORDER BY ticket_seq"), (ticket_id,))

    def history_of(self, id_or_code: str) -> list[dict[str, Any]]:
        """The history of the ticket with this id or code, found and read in one query
        (empty: no such ticket in the ledger)."""
        return self._rows(("SELECT " + HISTORY_COLUMNS + " FROM {s}.ledger WHERE ticket_id ="
                          " (SELECT ticket_id FROM {s}.ledger WHERE ticket_id = %s"
                          " OR (ticket_code = %s AND ticket_code <> '') LIMIT 1)"
                          " ORDER BY ticket_seq"), (id_or_code, id_or_code))

    def history_with_siblings(self, id_or_code: str, levels: int
                              ) -> tuple[list[dict[str, Any]], dict[NodeKey, bytes]]:
        """:meth:`history_of`, and in the same query the hashes of each entry's sibling
        subtrees at the ``levels`` lowest levels of the tree, ``(level, (ledger_seq >> level)
        ^ 1)``: the part of its inclusion proof the cached upper levels do not hold (a sibling
        not complete yet is left out; the proof reads what else it needs)."""
        if levels <= 0:
            return self.history_of(id_or_code), {}
        return self._with_siblings(self._rows(
            _history_with_siblings(self.schema, levels, False), (id_or_code, id_or_code)))

    def history_with_siblings_by_id(self, ticket_id: str, levels: int
                                    ) -> tuple[list[dict[str, Any]], dict[NodeKey, bytes]]:
        """:meth:`history_with_siblings` of a ticket id (:meth:`ticket_id_for`)."""
        if levels <= 0:
            return self.history(ticket_id), {}
        return self._with_siblings(self._rows(
            _history_with_siblings(self.schema, levels, True), (ticket_id,)))

    @staticmethod
    def _with_siblings(rows: list[dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]], dict[NodeKey, bytes]]:
        known: dict[NodeKey, bytes] = {}
        for row in rows:
            seq = row["ledger_seq"]
            for level, h in enumerate(row.pop("siblings")):
                if h is not None:
                    known[(level, (seq >> level) ^ 1)] = h
        return rows, known

    def page(self, after: int, limit: int) -> list[dict[str, Any]]:
        return self._rows(("SELECT " + PAGE_COLUMNS + " FROM {s}.ledger WHERE ledger_seq >= %s"
                          " ORDER BY ledger_seq LIMIT %s"), (after, limit))

    def size(self) -> int:
        with self.read_connection() as conn:
            return ledger_size(conn, self.s)

    def stream(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Every row in ledger order, through a server-side cursor (constant memory)."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor(
                name="ledger_scan", row_factory=dict_row) as cur:
            cur.itersize = batch
            cur.execute(SQL("SELECT " + ENTRY_COLUMNS + " FROM {} ORDER BY ledger_seq")
                        .format(SQL("{}.ledger").format(self.s)))
            yield from cur

    def event_ids(self) -> Iterator[tuple[int, str, str, str]]:
        """(ledger_seq, event_id, producer, event_type) of every entry, in ledger order."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor(
                name="ledger_ids") as cur:
            cur.itersize = 20000
            cur.execute(SQL("SELECT ledger_seq, event_id, producer, event_type FROM {}.ledger"
                            " ORDER BY ledger_seq").format(self.s))
            yield from cur

    def tree(self, conn: psycopg.Connection[Any], cached: bool = True,
             size: int | None = None,
             known: Mapping[NodeKey, bytes] | None = None) -> MerkleLedgerTree:
        """The Merkle tree as stored; ``cached``: upper levels from memory (for proofs);
        ``size``: a size known to be stored (a signed checkpoint's), saving the ledger's;
        ``known``: hashes read already (history_with_siblings)."""
        return MerkleLedgerTree(PgSubtreeHashStore(
            conn.cursor(binary=True), self.schema, size=size,
            cache=self.upper_levels if cached else None, known=known))

    def inclusion_proofs(self, leaf_indexes: Sequence[int], size: int,
                         known: Mapping[NodeKey, bytes] | None = None) -> dict[int, list[bytes]]:
        """Inclusion proofs of these leaves in the tree of ``size`` leaves (a signed
        checkpoint's): from ``known`` (read with the history), the cached upper levels, and
        one query for the rest, on a pooled connection taken only if something is missing."""
        return MerkleLedgerTree(PgSubtreeHashStore(
            None, self.schema, size=size, cache=self.upper_levels, known=known,
            connect=self.read_connection)).inclusion_proofs(leaf_indexes, size)

    def proof_levels(self) -> int:
        """How many of the tree's lowest levels a proof reads from the database (the cache
        holds the rest), 0 before the cache is loaded."""
        return self.upper_levels.from_level or 0
