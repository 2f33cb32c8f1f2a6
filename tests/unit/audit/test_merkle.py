"""Merkle tree: RFC 6962 vectors, naive cross-checks, incremental store, forged proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    InMemorySubtreeHashStore,
    InvalidProofError,
    MerkleLedgerTree,
    NodeKey,
    ProofError,
    inclusion_parts,
    inclusion_ranges,
    leaf_hash,
    mth,
    node_hash,
    perfect_parts,
    split_point,
    verify_consistency,
    verify_inclusion,
)

# The eight leaves and roots used by Certificate Transparency's reference test data
# (certificate-transparency-go / transparency-dev/merkle "testonly" vectors).
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]), literally."""
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b), literally."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [f"事件-{i}".encode() for i in range(n)]


def tree_of(leaves: Sequence[bytes]) -> MerkleLedgerTree:
    tree = MerkleLedgerTree(InMemorySubtreeHashStore())
    tree.append(leaves)
    return tree


def test_rfc6962_reference_roots() -> None:
    tree = MerkleLedgerTree(InMemorySubtreeHashStore())
    for i, leaf in enumerate(RFC_LEAVES):
        tree.append([leaf])
        assert tree.root().hex() == RFC_ROOTS[i]
        assert mth(RFC_LEAVES[: i + 1]).hex() == RFC_ROOTS[i]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert mth([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert tree_of([]).root() == EMPTY_ROOT


def test_incremental_roots_match_naive_for_every_past_size() -> None:
    leaves = leaves_of(70)
    tree = tree_of(leaves)
    compact = CompactRange()
    for n in range(71):
        assert tree.root(n) == mth(leaves[:n]), n
        if n:
            compact.append_leaf_hash(leaf_hash(leaves[n - 1]))
        assert compact.root() == mth(leaves[:n])


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12))
def test_batched_appends_give_the_same_tree(batches: list[int]) -> None:
    leaves = leaves_of(sum(batches))
    tree = MerkleLedgerTree(InMemorySubtreeHashStore())
    done = 0
    for b in batches:
        assert tree.append(leaves[done : done + b]) == done + b
        done += b
    assert tree.root() == mth(leaves)


def test_inclusion_proofs_match_rfc_path_and_verify() -> None:
    for n in range(1, 40):
        leaves = leaves_of(n)
        tree = tree_of(leaves)
        root = mth(leaves)
        for m in range(n):
            path = tree.inclusion_proof(m)
            assert path == naive_path(m, leaves)
            verify_inclusion(
                leaf=leaf_hash(leaves[m]), leaf_index=m, tree_size=n, path=path, root=root
            )


def test_consistency_proofs_match_rfc_subproof_and_verify() -> None:
    leaves = leaves_of(40)
    tree = tree_of(leaves)
    for n in range(0, 41):
        for m in range(0, n + 1):
            path = tree.consistency_proof(m, n)
            expected = [] if m in (0, n) else naive_subproof(m, leaves[:n], True)
            assert path == expected, (m, n)
            verify_consistency(
                first_size=m,
                second_size=n,
                first_root=mth(leaves[:m]),
                second_root=mth(leaves[:n]),
                path=path,
            )


def test_proofs_of_past_sizes_come_from_the_current_tree() -> None:
    leaves = leaves_of(50)
    tree = tree_of(leaves)
    path = tree.inclusion_proof(17, 23)
    # the path a tree of 23 leaves gives, not the current 50-leaf tree's path
    assert path == naive_path(17, leaves[:23]) == tree_of(leaves[:23]).inclusion_proof(17, 23)
    assert path != tree.inclusion_proof(17, 50)
    verify_inclusion(
        leaf=leaf_hash(leaves[17]), leaf_index=17, tree_size=23, path=path, root=mth(leaves[:23])
    )


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


@settings(max_examples=300)
@given(st.data())
def test_forged_inclusion_proofs_are_rejected(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=64))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = leaves_of(2 * n)  # room to claim a larger size against that size's real root
    tree = tree_of(leaves)
    root, leaf, path = tree.root(n), leaf_hash(leaves[m]), tree.inclusion_proof(m, n)
    forgery = data.draw(st.sampled_from(["hash", "index", "size", "swap", "drop", "extra", "leaf"]))
    index, size = m, n
    if forgery == "hash":
        i = data.draw(st.integers(0, len(path) - 1))
        path[i] = _flip(path[i])
    elif forgery == "index":
        index = data.draw(st.integers(0, n - 1).filter(lambda x: x != m))
    elif forgery == "size":
        # A size comes signed together with its root, so a wrong size meets that size's root.
        size = data.draw(st.integers(m + 1, 2 * n).filter(lambda x: x != n))
        root = tree.root(size)
    elif forgery == "swap":
        if len(path) < 2 or path[0] == path[1]:
            return
        path[0], path[1] = path[1], path[0]
    elif forgery == "drop":
        path.pop()
    elif forgery == "extra":
        path.append(leaf)
    else:
        leaf = _flip(leaf)
    with pytest.raises(InvalidProofError):
        verify_inclusion(leaf=leaf, leaf_index=index, tree_size=size, path=path, root=root)


@settings(max_examples=300)
@given(st.data())
def test_forged_consistency_proofs_are_rejected(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=3, max_value=64))
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    leaves = leaves_of(2 * n)
    tree = tree_of(leaves)
    old, new, path = tree.root(m), tree.root(n), tree.consistency_proof(m, n)
    forgery = data.draw(st.sampled_from(["hash", "m", "n", "swap", "drop", "old", "new"]))
    first, second = m, n
    if forgery == "hash":
        i = data.draw(st.integers(0, len(path) - 1))
        path[i] = _flip(path[i])
    elif forgery == "m":
        first = data.draw(st.integers(1, n - 1).filter(lambda x: x != m))
        old = tree.root(first)
    elif forgery == "n":
        second = data.draw(st.integers(m + 1, 2 * n).filter(lambda x: x != n))
        new = tree.root(second)
    elif forgery == "swap":
        if len(path) < 2 or path[0] == path[1]:
            return
        path[0], path[1] = path[1], path[0]
    elif forgery == "drop":
        path.pop()
    elif forgery == "old":
        old = _flip(old)
    else:
        new = _flip(new)
    with pytest.raises(InvalidProofError):
        verify_consistency(
            first_size=first, second_size=second, first_root=old, second_root=new, path=path
        )


def test_fork_between_equal_sizes_is_rejected() -> None:
    with pytest.raises(InvalidProofError, match="forked"):
        verify_consistency(
            first_size=5, second_size=5, first_root=b"a" * 32, second_root=b"b" * 32, path=[]
        )


def test_asking_beyond_the_tree_is_a_proof_error() -> None:
    tree = tree_of(leaves_of(5))
    with pytest.raises(ProofError):
        tree.inclusion_proof(5)
    with pytest.raises(ProofError):
        tree.consistency_proof(3, 6)
    with pytest.raises(ProofError):
        tree.root(6)


class SyntheticStore:
    """A ten-million-leaf tree without ten million hashes: leaf i holds ``i % 8``, so every
    subtree above level 3 of one level is the same tree and all stored hashes are consistent."""

    PERIOD_LEVEL = 3

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads = 0
        self.calls = 0

    def subtree(self, level: int, index: int) -> bytes:
        if level > self.PERIOD_LEVEL:  # both halves are the same tree one level down
            half = self.subtree(level - 1, 0)
            return node_hash(half, half)
        if level == 0:
            return leaf_hash(bytes([index % (1 << self.PERIOD_LEVEL)]))
        return node_hash(self.subtree(level - 1, 2 * index), self.subtree(level - 1, 2 * index + 1))

    def tree_size(self) -> int:
        return self.size

    def get_hashes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.calls += 1
        self.reads += len(keys)
        for level, index in keys:
            assert (index + 1) << level <= self.size, "asked for an incomplete subtree"
        return [self.subtree(lv, ix if lv < self.PERIOD_LEVEL else 0) for lv, ix in keys]

    def add_hashes(self, nodes: object, new_size: int) -> None:  # pragma: no cover
        raise AssertionError("read only")


@pytest.mark.parametrize("m", [0, 1, 4_999_999, 9_999_998, 9_999_999, 8_388_607, 8_388_608])
def test_ten_million_leaf_proofs_need_log_n_hashes_in_one_read(m: int) -> None:
    n = 10_000_000
    store = SyntheticStore(n)
    tree = MerkleLedgerTree(store)
    root = tree.root()
    store.reads = store.calls = 0
    path = tree.inclusion_proof(m)
    assert store.calls == 1 and store.reads <= 2 * n.bit_length()
    verify_inclusion(leaf=tree.leaf_hash_at(m), leaf_index=m, tree_size=n, path=path, root=root)
    if m:
        store.reads = store.calls = 0
        proof = tree.consistency_proof(m)
        assert store.calls == 1 and store.reads <= 2 * n.bit_length()
        verify_consistency(
            first_size=m, second_size=n, first_root=tree.root(m), second_root=root, path=proof
        )


def test_appending_stores_about_two_hashes_per_leaf() -> None:
    store = InMemorySubtreeHashStore()
    MerkleLedgerTree(store).append(leaves_of(1000))
    assert 1000 <= len(store) < 2000


def test_many_inclusion_proofs_come_from_one_store_read() -> None:
    class CountingStore(InMemorySubtreeHashStore):
        reads = 0

        def get_hashes(self, keys):  # type: ignore[no-untyped-def]
            CountingStore.reads += 1
            return super().get_hashes(keys)

    tree = MerkleLedgerTree(CountingStore())
    tree.append(f"leaf {i}".encode() for i in range(1000))
    CountingStore.reads = 0
    wanted = [0, 17, 511, 512, 997, 998]
    proofs = tree.inclusion_proofs(wanted, 999)
    assert CountingStore.reads == 1
    assert proofs == {i: tree.inclusion_proof(i, 999) for i in wanted}
    with pytest.raises(ProofError):
        tree.inclusion_proofs([999], 999)


def test_inclusion_proofs_take_what_the_store_holds_in_memory_and_read_the_rest_once() -> None:
    class HalfInMemory(InMemorySubtreeHashStore):
        reads: ClassVar[list[list[tuple[int, int]]]] = []

        def peek(self, key):  # type: ignore[no-untyped-def]
            return self._nodes.get(key) if (key[0] + key[1]) % 2 else None  # half held

        def get_hashes(self, keys):  # type: ignore[no-untyped-def]
            HalfInMemory.reads.append(list(keys))
            return super().get_hashes(keys)

    tree = MerkleLedgerTree(HalfInMemory())
    tree.append(f"leaf {i}".encode() for i in range(1000))
    wanted = [0, 17, 511, 512, 997, 998]
    for size in (999, 1000, 513):
        HalfInMemory.reads = []
        proofs = tree.inclusion_proofs([i for i in wanted if i < size], size)
        assert len(HalfInMemory.reads) == 1
        HalfInMemory.reads = []
        assert proofs == {i: tree.inclusion_proof(i, size) for i in wanted if i < size}


def test_inclusion_proofs_take_a_leafs_siblings_at_once_where_the_store_can() -> None:
    class PathsInMemory(InMemorySubtreeHashStore):
        reads: ClassVar[list[list[tuple[int, int]]]] = []

        def peek(self, key):  # type: ignore[no-untyped-def]
            return self._nodes.get(key)  # the upper edge parts

        def peek_path(self, i, height):  # type: ignore[no-untyped-def]
            # every third level not held: read with the rest
            return [None if lv % 3 == 1 else self._nodes.get((lv, (i >> lv) ^ 1))
                    for lv in range(height)]

        def get_hashes(self, keys):  # type: ignore[no-untyped-def]
            PathsInMemory.reads.append(list(keys))
            return super().get_hashes(keys)

    tree = MerkleLedgerTree(PathsInMemory())
    tree.append(f"leaf {i}".encode() for i in range(1000))
    wanted = [0, 1, 17, 511, 512, 997, 998]
    for size in (999, 1000, 513):
        PathsInMemory.reads = []
        proofs = tree.inclusion_proofs([i for i in wanted if i < size], size)
        assert len(PathsInMemory.reads) == 1 and all(k[0] % 3 == 1 for k in PathsInMemory.reads[0])
        PathsInMemory.reads = []
        assert proofs == {i: tree.inclusion_proof(i, size) for i in wanted if i < size}


def test_inclusion_parts_are_the_rfc_ranges_split_into_perfect_subtrees() -> None:
    for n in range(1, 300):
        for m in range(n):
            assert inclusion_parts(m, n) == [
                tuple(perfect_parts(s, e)) for s, e in inclusion_ranges(m, n)
            ], (m, n)
    for n, m in [(10_000_000, 4_999_999), (1_000_000, 999_999), (1 << 20, 12345),
                 ((1 << 20) + 1, 1 << 20)]:
        assert inclusion_parts(m, n) == [tuple(perfect_parts(s, e)) for s, e in inclusion_ranges(m, n)]
    with pytest.raises(ProofError):
        inclusion_parts(5, 5)
