"""Kafka's default partition of a message: murmur2 of its key, as aiokafka's (and the Java
client's) DefaultPartitioner computes it, a few times faster in Python, and for many keys at
once. The relay stores each message's hash with it (at commit) and sends it to the partition
the producer's own partitioner would choose, so one ticket's events keep one partition.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable

_WORDS = [struct.Struct(f"<{n}I") for n in range(64)]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2, as aiokafka's DefaultPartitioner computes it (same results), a few
    times faster: the 4-byte words unpacked at once instead of byte by byte."""
    length = len(data)
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ length) & mask
    n = length // 4
    words = _WORDS[n].unpack_from(data) if n < 64 else struct.unpack_from(f"<{n}I", data)
    for k in words:
        k = (k * m) & mask
        k = ((k ^ (k >> 24)) * m) & mask
        h = ((h * m) & mask) ^ k
    tail = length & ~3
    extra = length - tail
    if extra:
        if extra >= 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * m) & mask
    h = ((h ^ (h >> 13)) * m) & mask
    return h ^ (h >> 15)


_HASHES: dict[bytes, int] = {}


def key_hash(key: bytes) -> int:
    """murmur2(key), remembered: a ticket's events share its key (bounded: forgotten at 50,000)."""
    found = _HASHES.get(key)
    if found is None:
        if len(_HASHES) >= 50_000:
            _HASHES.clear()
        found = _HASHES[key] = murmur2(key)
    return found


def key_hashes(keys: list[bytes]) -> list[int]:
    """murmur2 of each key: the distinct keys computed together, per length (murmur2_many),
    when there are enough of them to pay. Not looked up in or added to `key_hash`'s memory:
    the relay's messages made at commit (its one caller) have keys seldom seen before (a new
    ticket's id), and in a 50,000-key dict the look-ups, insertions and clearing cost about
    half as much again as the hashes themselves (bench.backbone_rates: 1.5 -> 1.2 us a key,
    docs/profiles/write-paths.md, session 20)."""
    distinct = list(dict.fromkeys(keys))  # (a ticket's events in one batch share its key)
    if not distinct:
        return []
    length = len(distinct[0])
    if all(len(key) == length for key in distinct):  # the usual batch: ids of one length
        groups: Iterable[list[bytes]] = (distinct,)
    else:
        by_length: dict[int, list[bytes]] = {}
        for key in distinct:
            by_length.setdefault(len(key), []).append(key)
        groups = by_length.values()
    hashes: dict[bytes, int] = {}
    for same_length in groups:
        if len(same_length) >= _MANY:
            hashes.update(zip(same_length, murmur2_many(same_length), strict=True))
        else:
            hashes.update((key, murmur2(key)) for key in same_length)
    return list(map(hashes.__getitem__, keys))


_MANY = 8  # fewer keys than this: one by one (measured: equal at ~4, 6x faster at 200)


def murmur2_many(keys: list[bytes]) -> list[int]:
    """`murmur2` of several keys of ONE length at once: each key's 32-bit state in a 64-bit
    lane of one Python int (the other 32 bits of its lane hold the products' carries and are
    masked off), so each step of the hash is a few big-integer operations for all keys
    instead of a few per key (a ticket id's key: ~0.3 us a key in a batch of 200, ~2.7 us
    alone). The keys' 4-byte words are taken word by word from the joined keys by a strided
    view (their i-th words, 32 bits each, side by side), then spread into the lanes: the even
    keys' words into the first half of the lanes, the odd keys' into the second; the results
    are put back in order at the end. The same results as murmur2 (tested)."""
    n, length = len(keys), len(keys[0])
    if any(len(k) != length for k in keys):
        raise ValueError("murmur2_many: keys of one length only")
    if not _LITTLE_WORDS:  # the view reads native 32-bit words: little-endian ones only
        return [murmur2(k) for k in keys]
    half = (n + 1) // 2
    lanes = 2 * half  # an odd number of keys: one empty lane at the end
    masks = _MASKS.get(half) or _masks(half)
    low32, low8, low19, low17, ones, even = masks
    shift = 64 * half
    m = 0x5BD1E995
    h = ((0x9747B28C ^ length) & 0xFFFFFFFF) * ones
    words = length // 4
    pad = b"\0" * (4 * (lanes - n))
    if words:
        data = b"".join(keys) if length % 4 == 0 else b"".join(k[:words * 4] for k in keys)
        view = memoryview(data).cast("I")  # (native order: little-endian, as murmur2 reads)
        for i in range(words):
            x = int.from_bytes(view[i::words].tobytes() + pad, "little")
            k = (x & even) | (((x >> 32) & even) << shift)  # key 2j in lane j, 2j+1 in half+j
            k = (k * m) & low32
            k = ((k ^ ((k >> 24) & low8)) * m) & low32
            h = ((h * m) ^ k) & low32
    tail = length & ~3
    if length - tail:  # the last 1-3 bytes of every key, as murmur2 mixes them in
        x = int.from_bytes(b"".join(k[tail:] + b"\0" * (4 - length + tail) for k in keys) + pad,
                           "little")
        h = ((h ^ ((x & even) | (((x >> 32) & even) << shift))) * m) & low32
    h = ((h ^ ((h >> 13) & low19)) * m) & low32
    h ^= (h >> 15) & low17
    got = struct.unpack(f"<{lanes}Q", h.to_bytes(8 * lanes, "little"))
    out = list(got)
    out[0::2] = got[:half]
    out[1::2] = got[half:]
    del out[n:]
    return out


def _masks(half: int) -> tuple[int, ...]:
    """murmur2_many's masks for 2 * `half` lanes (and the even keys' words of a strided view
    of `half` pairs), made once per size."""
    lanes = 2 * half
    if len(_MASKS) > 1000:
        _MASKS.clear()
    masks = _MASKS[half] = tuple(int.from_bytes(pattern * count, "little") for pattern, count in (
        (b"\xff\xff\xff\xff\0\0\0\0", lanes), (b"\xff\0\0\0\0\0\0\0", lanes),
        (b"\xff\xff\x07\0\0\0\0\0", lanes), (b"\xff\xff\x01\0\0\0\0\0", lanes),
        (b"\x01\0\0\0\0\0\0\0", lanes), (b"\xff\xff\xff\xff\0\0\0\0", half)))
    return masks


_MASKS: dict[int, tuple[int, ...]] = {}
_LITTLE_WORDS = sys.byteorder == "little" and struct.calcsize("I") == 4


def partition_for(key: bytes, partitions: list[int]) -> int:
    """The partition aiokafka's DefaultPartitioner gives `key` (`partitions` sorted)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
