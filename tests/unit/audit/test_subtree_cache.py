"""The proofs' cache of the tree's upper levels: sized to its budget, loaded once, bounded."""

from __future__ import annotations

from services.audit.adapters.ledger_store import LOWEST_CACHED_LEVEL, SubtreeHashCache


def test_the_lowest_cached_level_keeps_the_upper_levels_within_budget() -> None:
    cache = SubtreeHashCache(budget=65_536)
    assert cache.level_for(0) == cache.level_for(1000) == LOWEST_CACHED_LEVEL
    assert cache.level_for(1_000_000) == 5
    assert cache.level_for(10_000_000) == 9
    for n in (1, 17, 100_000, 1_000_000, 123_456_789):
        level = cache.level_for(n)
        assert sum(n >> lv for lv in range(level, 64)) <= 65_536 or level == LOWEST_CACHED_LEVEL


def test_loaded_once_then_kept_from_its_level_and_bounded() -> None:
    cache = SubtreeHashCache(budget=4)
    cache.keep({(9, 0): b"x"})  # before loading nothing is kept
    assert len(cache) == 0
    loads = []

    def select(level: int) -> dict[tuple[int, int], bytes]:
        loads.append(level)
        return {(level, 0): b"a", (level + 1, 0): b"b"}

    cache.load(64, select)
    cache.load(64, select)
    assert loads == [cache.from_level] and cache.get((cache.from_level, 0)) == b"a"
    cache.keep({(0, 1): b"low", (cache.from_level, 1): b"c"})
    assert cache.get((0, 1)) is None and cache.get((cache.from_level, 1)) == b"c"
    cache.keep({(cache.from_level, i): b"n" for i in range(2, 20)})
    assert len(cache) == cache.limit == 8
    assert cache.get((cache.from_level, 19)) == b"n" and cache.get((cache.from_level, 0)) is None
