"""RFC 6962 / RFC 9162 Merkle tree over the audit ledger.

Three layers, all pure:

* the hash functions and a naive recursive MTH (the reference the rest is checked against);
* proof *verification* written exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 spell the algorithms,
  so an auditor can compare the code with the RFC line by line;
* :class:`MerkleLedgerTree`, an append-only tree that keeps the hashes of perfect subtrees
  keyed by ``(level, index)`` in a :class:`SubtreeHashStore`. A perfect subtree never changes
  once complete, so the root of any past size and any proof are computed from O(log n) stored
  hashes, fetched in one batch (the PostgreSQL store turns that into one query).

A perfect subtree ``(level, index)`` covers the leaves ``[index * 2**level, (index+1) * 2**level)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Protocol, cast

HASH_SIZE = 32
NodeKey = tuple[int, int]  # (level, index)


class ProofError(ValueError):
    """A proof was asked for sizes or indexes the tree cannot prove."""


class InvalidProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1: the 0x00 prefix keeps leaves and inner nodes apart (second-preimage)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: Sequence[bytes]) -> bytes:
    """Naive recursive Merkle Tree Hash of raw leaf data, straight from RFC 6962 §2.1."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = split_point(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# --------------------------------------------------------------------------------------------
# Verification: RFC 9162 §2.1.3.2 and §2.1.4.2, step for step.
# --------------------------------------------------------------------------------------------


def verify_inclusion(
    *, leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`InvalidProofError` unless ``path`` proves ``leaf`` (a leaf hash) at
    ``leaf_index`` in the tree of ``tree_size`` leaves whose root is ``root``."""
    if root != compute_inclusion_root(
        leaf=leaf, leaf_index=leaf_index, tree_size=tree_size, path=path
    ):
        raise InvalidProofError("inclusion proof leads to a different root hash")


def compute_inclusion_root(
    *, leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes]
) -> bytes:
    if not 0 <= leaf_index < tree_size:
        raise InvalidProofError(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    _check_hashes(path)
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    sha256 = hashlib.sha256  # node_hash inlined: a ticket's proofs make ~600 of these calls
    for p in path:
        if sn == 0:
            raise InvalidProofError("inclusion path is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r).digest()  # node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p).digest()  # node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProofError("inclusion path is shorter than the tree is high")
    return r


def verify_consistency(
    *,
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    path: Sequence[bytes],
) -> None:
    """Raise :class:`InvalidProofError` unless ``path`` proves that the tree of ``first_size``
    leaves (root ``first_root``) is a prefix of the tree of ``second_size`` (``second_root``)."""
    _check_hashes(path)
    if not 0 <= first_size <= second_size:
        raise InvalidProofError(f"sizes {first_size} -> {second_size} do not grow")
    if first_size == second_size:
        # RFC 6962 PROOF(m, D[m]) is empty: equal trees are consistent iff their roots agree.
        if path:
            raise InvalidProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise InvalidProofError("two roots for the same tree size: the log has forked")
        return
    if first_size == 0:
        # Every tree extends the empty tree; RFC 9162 defines no proof for it.
        if path:
            raise InvalidProofError("a proof from the empty tree must be empty")
        return
    # RFC 9162 §2.1.4.2, steps 1-7.
    if not path:
        raise InvalidProofError("consistency path is empty")
    proof = list(path)
    if first_size & (first_size - 1) == 0:
        proof.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise InvalidProofError("consistency path is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProofError("consistency path is shorter than the tree is high")
    if fr != first_root:
        raise InvalidProofError("consistency path does not lead to the first root")
    if sr != second_root:
        raise InvalidProofError("consistency path does not lead to the second root")


def _check_hashes(path: Sequence[bytes]) -> None:
    for h in path:
        if len(h) != HASH_SIZE:
            raise InvalidProofError(f"a proof hash has {len(h)} bytes, not {HASH_SIZE}")


# --------------------------------------------------------------------------------------------
# Proof *shapes*: which subtree ranges a proof consists of (RFC 6962 §2.1.1 PATH and §2.1.2
# SUBPROOF), as half-open leaf ranges. Computing the shape first lets a store fetch every hash
# the proof needs in one round trip.
# --------------------------------------------------------------------------------------------

Range = tuple[int, int]  # [start, end) of leaves


def inclusion_ranges(leaf_index: int, tree_size: int) -> list[Range]:
    """RFC 6962 PATH(m, D[n]) as leaf ranges, leaf end first (the order the path is sent in)."""
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    out: list[Range] = []
    start, end, m = 0, tree_size, leaf_index
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    out.reverse()
    return out


def consistency_ranges(first_size: int, second_size: int) -> list[Range]:
    """RFC 6962 PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges."""
    if not 0 <= first_size <= second_size:
        raise ProofError(f"no consistency proof from size {first_size} to {second_size}")
    if first_size in (0, second_size):
        return []
    out: list[Range] = []
    start, end, m, whole = 0, second_size, first_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        out.append((start, end))
    out.reverse()
    return out


def inclusion_parts(leaf_index: int, tree_size: int) -> list[tuple[NodeKey, ...]]:
    """:func:`inclusion_ranges` as the perfect subtrees of each range, without walking every
    level through the RFC recursion: once the recursion reaches a perfect subtree (at the
    latest one level below the tree's right edge) the rest of the path is the leaf's sibling
    at each level, ``(level, (leaf_index >> level) ^ 1)``. Many leaves' proofs are built per
    history read, so this is the loop that runs; it is checked against the RFC form."""
    height, upper = _edge_parts(leaf_index, tree_size)
    path: list[tuple[NodeKey, ...]] = [((level, (leaf_index >> level) ^ 1),)
                                       for level in range(height)]
    path.extend(upper)
    return path


def _edge_parts(leaf_index: int, tree_size: int) -> tuple[int, Sequence[tuple[NodeKey, ...]]]:
    """:func:`inclusion_parts` in two pieces: the height of the perfect subtree holding the
    leaf (its path there is the leaf's sibling at each level) and the parts above it. Both
    depend only on which of the tree's perfect subtrees (:func:`perfect_parts` of the whole
    tree, a handful) holds the leaf: they are worked out once per tree size
    (:func:`_edge_table`) and looked up per leaf (a proof set asks for 30 leaves or more)."""
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    for end, height, upper in _edge_table(tree_size):
        if leaf_index < end:
            return height, upper
    raise AssertionError("the perfect subtrees cover the tree")  # pragma: no cover


@lru_cache(maxsize=16)
def _edge_table(tree_size: int) -> tuple[tuple[int, int, tuple[tuple[NodeKey, ...], ...]], ...]:
    """(end, height, parts above) of each perfect subtree of a tree of ``tree_size`` leaves,
    left to right: :func:`_walk_edge` of its first leaf holds for each of its leaves (the
    walk's splits fall on these subtrees' boundaries)."""
    table = []
    for level, idx in perfect_parts(0, tree_size):
        height, upper = _walk_edge(idx << level, tree_size)
        table.append(((idx + 1) << level, height, tuple(upper)))
    return tuple(table)


def _walk_edge(leaf_index: int, tree_size: int) -> tuple[int, list[tuple[NodeKey, ...]]]:
    """:func:`_edge_parts` of one leaf, by the RFC recursion down the tree's right edge."""
    upper: list[tuple[NodeKey, ...]] = []
    start, end = 0, tree_size
    while (end - start) & (end - start - 1):  # not a power of two: an edge of the tree
        k = split_point(end - start)
        if leaf_index - start < k:
            upper.append(tuple(perfect_parts(start + k, end)))
            end = start + k
        else:
            upper.append(((k.bit_length() - 1, start >> (k.bit_length() - 1)),))
            start += k
    upper.reverse()
    return (end - start).bit_length() - 1, upper


def perfect_parts(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees whose hashes make up MTH(D[start:end]) for a range that occurs in
    the RFC recursion (its start is aligned to a power of two at least its size)."""
    keys: list[NodeKey] = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def fold_parts(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of :func:`perfect_parts` (largest first) right to left, which is how
    MTH splits a range at the largest power of two below its size."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


# --------------------------------------------------------------------------------------------
# Incremental tree over a store of perfect-subtree hashes.
# --------------------------------------------------------------------------------------------


class SubtreeHashStore(Protocol):
    """Where the hashes of complete perfect subtrees live. Entries are write-once."""

    def tree_size(self) -> int:
        """Number of leaves appended so far."""
        ...

    def get_hashes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """The hashes for ``keys`` in the same order; raise ``KeyError`` for a missing key."""
        ...

    def add_hashes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        """Store new subtree hashes and the new tree size together (one transaction)."""
        ...


def _nothing_in_memory(key: NodeKey) -> bytes | None:
    return None


class PeekableStore(SubtreeHashStore, Protocol):
    """A store that also holds some hashes in memory (a cache, hashes a query read already):
    ``peek`` answers those without a read, None for the rest. It may also answer a leaf's
    siblings at once (``peek_path(leaf_index, height)``: the leaf's sibling at each level
    below ``height``, lowest first, None where not held), which is most of a proof."""

    def peek(self, key: NodeKey) -> bytes | None: ...


class InMemorySubtreeHashStore:
    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    def tree_size(self) -> int:
        return self._size

    def get_hashes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        return [self._nodes[k] for k in keys]

    def add_hashes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        if new_size < self._size:
            raise ValueError("the tree only grows")
        for key, value in nodes.items():
            if self._nodes.setdefault(key, value) != value:
                raise ValueError(f"subtree {key} is already stored with a different hash")
        self._size = new_size

    def __len__(self) -> int:
        return len(self._nodes)


class MerkleLedgerTree:
    """Append-only Merkle tree whose proofs cost O(log n) stored hashes."""

    def __init__(self, store: SubtreeHashStore) -> None:
        self.store = store

    @property
    def size(self) -> int:
        return self.store.tree_size()

    def append_leaf_hashes(self, hashes: Iterable[bytes]) -> int:
        """Append leaves (already hashed with :func:`leaf_hash`); return the new tree size.

        Only the right edge of the tree (one hash per set bit of the size) is read; each leaf
        completes on average one more subtree, so writes are about two per leaf."""
        size = self.size
        edge = _frontier_keys(size)
        frontier = dict(zip(edge, self.store.get_hashes(edge), strict=True))
        new: dict[NodeKey, bytes] = {}
        for h in hashes:
            level, index = 0, size
            new[(0, index)] = h
            while index & 1:  # this node is a right child: its parent is now complete
                left = new.get((level, index - 1)) or frontier[(level, index - 1)]
                h = node_hash(left, h)
                level, index = level + 1, index >> 1
                new[(level, index)] = h
            size += 1
        self.store.add_hashes(new, size)
        return size

    def append(self, leaf_data: Iterable[bytes]) -> int:
        return self.append_leaf_hashes(leaf_hash(d) for d in leaf_data)

    def root(self, tree_size: int | None = None) -> bytes:
        """Root hash of the first ``tree_size`` leaves (default: all)."""
        n = self.size if tree_size is None else tree_size
        if not 0 <= n <= self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {n}")
        if n == 0:
            return EMPTY_ROOT
        return self._range_hashes([(0, n)])[0]

    def leaf_hash_at(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise ProofError(f"no leaf {index} in a tree of size {self.size}")
        return self.store.get_hashes([(0, index)])[0]

    def inclusion_proof(self, leaf_index: int, tree_size: int | None = None) -> list[bytes]:
        n = self.size if tree_size is None else tree_size
        if n > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {n}")
        return self._range_hashes(inclusion_ranges(leaf_index, n))

    def inclusion_proofs(
        self, leaf_indexes: Iterable[int], tree_size: int | None = None
    ) -> dict[int, list[bytes]]:
        """Inclusion proofs of many leaves (a ticket's history) from ONE store read, or none
        when the store holds every hash in memory already (``peek``, see PeekableStore)."""
        n = self.size if tree_size is None else tree_size
        if n > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {n}")
        peek = getattr(self.store, "peek", _nothing_in_memory)
        peek_path = getattr(self.store, "peek_path", None)
        # each proof: the leaf's sibling at each level of its perfect subtree, then the parts
        # above it (inclusion_parts); each hash is looked up once where the path needs it,
        # and what the store does not hold in memory is read afterwards in one batch
        out: dict[int, list[bytes]] = {}
        holes: list[tuple[list[bytes | None], int, tuple[NodeKey, ...]]] = []
        edges: dict[tuple[NodeKey, ...], bytes] = {}  # the edge ranges all proofs share
        for i in leaf_indexes:
            height, upper = _edge_parts(i, n)
            if peek_path is not None:
                path: list[bytes | None] = peek_path(i, height)
            else:
                path = [peek((level, (i >> level) ^ 1)) for level in range(height)]
            if None in path:
                holes.extend((path, level, ((level, (i >> level) ^ 1),))
                             for level, h in enumerate(path) if h is None)
            for parts in upper:
                h = edges.get(parts)
                if h is None:
                    hashes = [peek(k) for k in parts]
                    if None in hashes:
                        holes.append((path, len(path), parts))
                    else:  # no None among them (checked just above)
                        held = cast("list[bytes]", hashes)
                        h = edges[parts] = held[0] if len(held) == 1 else fold_parts(held)
                path.append(h)
            out[i] = path  # type: ignore[assignment]  # its holes are filled below
        if holes:
            wanted = sorted({k for _, _, parts in holes for k in parts})
            got = dict(zip(wanted, self.store.get_hashes(wanted), strict=True))
            for path, position, parts in holes:
                path[position] = (got[parts[0]] if len(parts) == 1
                                  else fold_parts([got[k] for k in parts]))
        return out

    def consistency_proof(self, first_size: int, second_size: int | None = None) -> list[bytes]:
        n = self.size if second_size is None else second_size
        if n > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {n}")
        return self._range_hashes(consistency_ranges(first_size, n))

    def _range_hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        parts = [perfect_parts(s, e) for s, e in ranges]
        wanted = sorted({k for p in parts for k in p})
        got = dict(zip(wanted, self.store.get_hashes(wanted), strict=True))
        return [fold_parts([got[k] for k in p]) for p in parts]


def _frontier_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees that make up the first ``size`` leaves (the right edge)."""
    return perfect_parts(0, size)


class CompactRange:
    """The right edge of a tree held in memory: O(log n) hashes, enough to keep appending and
    to know the root at every size. Used to recompute roots while streaming a whole ledger."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), largest subtree first

    def append_leaf_hash(self, h: bytes) -> None:
        level = 0
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            h = node_hash(left, h)
            level += 1
        self._stack.append((level, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold_parts([h for _, h in self._stack])
