"""The proofs' cache of the tree's upper levels: sized to its budget, loaded once, one string
of hashes per level, newer subtrees kept within a bound."""

from __future__ import annotations

from services.audit.adapters.ledger_store import LOWEST_CACHED_LEVEL, SubtreeHashCache


def h(level: int, idx: int) -> bytes:
    return bytes([level, idx % 256]) * 16  # 32 bytes, distinct per (level, idx < 256)


def test_the_lowest_cached_level_keeps_the_upper_levels_within_budget() -> None:
    cache = SubtreeHashCache(budget=524_288)
    assert cache.level_for(0) == cache.level_for(1000) == LOWEST_CACHED_LEVEL
    assert cache.level_for(1_000_000) == 2
    assert cache.level_for(10_000_000) == 6
    for n in (1, 17, 100_000, 1_000_000, 123_456_789):
        level = cache.level_for(n)
        assert sum(n >> lv for lv in range(level, 64)) <= 524_288 or level == LOWEST_CACHED_LEVEL


def test_loaded_once_as_strings_per_level_then_newer_kept_and_bounded() -> None:
    cache = SubtreeHashCache(budget=64)  # keeps at most 8 newer subtrees
    cache.keep({(9, 0): h(9, 0)})  # before loading nothing is kept
    assert len(cache) == 0
    loads = []

    def select(level: int) -> dict[int, bytes]:
        loads.append(level)
        # levels 2 and 3 of a 16-leaf tree; level 4 left out (not 0..k-1: a damaged table)
        return {level: b"".join(h(level, i) for i in range(4)), level + 1: h(level + 1, 0) + h(level + 1, 1)}

    cache.load(16, select)
    cache.load(16, select)
    lo = cache.from_level
    assert loads == [lo] == [LOWEST_CACHED_LEVEL] and len(cache) == 6
    get = cache.lookup()
    assert get((lo, 3)) == cache.get((lo, 3)) == h(lo, 3) and get((lo + 1, 1)) == h(lo + 1, 1)
    assert get((lo, 4)) is None and get((lo - 1, 0)) is None and get((lo + 2, 0)) is None
    cache.keep({(0, 1): h(0, 1), (lo, 4): h(lo, 4), (lo + 5, 0): h(lo + 5, 0)})
    assert cache.get((0, 1)) is None  # below the cached levels: never kept
    assert cache.get((lo, 4)) == h(lo, 4) and cache.lookup()((lo + 5, 0)) == h(lo + 5, 0)
    cache.keep({(lo, i): h(lo, i) for i in range(5, 20)})
    assert len(cache) == 6 + cache.limit == 14
    assert cache.get((lo, 19)) == h(lo, 19) and cache.get((lo, 4)) is None  # oldest went first
    assert cache.get((lo, 0)) == h(lo, 0)  # the loaded levels stay


def test_a_leafs_path_comes_from_the_query_below_the_cached_levels_and_the_cache_above() -> None:
    cache = SubtreeHashCache(budget=64)
    lo = LOWEST_CACHED_LEVEL
    cache.load(64, lambda level: {lv: b"".join(h(lv, i) for i in range(64 >> lv))
                                  for lv in range(level, 6)})
    cache.keep({(6, 1): h(6, 1)})  # a subtree completed after the load
    known = {(lv, (37 >> lv) ^ 1): h(lv, (37 >> lv) ^ 1) for lv in range(lo)}
    path = cache.path_lookup(known)(37, 7)
    assert path == [h(lv, (37 >> lv) ^ 1) for lv in range(7)]
    assert cache.path_lookup({})(37, 8)[:lo] == [None] * lo  # below the cache: only the query's
    assert cache.path_lookup({})(37, 8)[7] is None  # neither loaded nor kept
