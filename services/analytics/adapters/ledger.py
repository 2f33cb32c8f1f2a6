"""Where a rebuild reads the lifecycle history: the audit ledger over HTTP, or any iterable of
raw envelopes (a file of base64 lines, or what a test published).

Each source yields ``(event type, raw envelope)``: the type as the ledger indexed it, so a
rebuild can pass over the events it does not count without decoding them ("" when the source
does not say it; the rebuild then decodes the envelope to find out).

`ledger_export` reads audit's bulk export (`GET /v1/ledger/export`: one streamed response of
length-prefixed binary frames, see services/audit/adapters/ledger_export.py); the caller folds
each received piece while audit sends the next into the socket's buffers. `ledger_entries`
reads the JSON pages of `GET /v1/ledger/entries` (base64 envelopes), the slower way.
"""

from __future__ import annotations

import base64
import ssl
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import httpx

PAGE = 1000
FRAME = struct.Struct(">QHI")  # ledger_seq, length of the event type, length of the event
Entry = tuple[str, bytes]


class LedgerError(RuntimeError):
    """The ledger could not be read; the rebuild stops and changes nothing."""


def ledger_entries(base_url: str, token: str, *, page: int = PAGE,
                   client: httpx.Client | None = None) -> Iterator[Entry]:
    """Raw envelopes in ledger order from `GET /v1/ledger/entries?after=&limit=` (audit)."""
    http = client or httpx.Client(base_url=base_url, timeout=30, verify=tls_context())
    after = 0
    try:
        while True:
            try:
                response = http.get("/v1/ledger/entries", params={"after": after, "limit": page},
                                    headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise LedgerError(f"cannot reach the ledger at {base_url}: {exc}") from exc
            if response.status_code != 200:
                raise LedgerError(f"the ledger answered {response.status_code}: "
                                  f"{response.text[:300]}")
            body = response.json()
            entries = body.get("entries") or []
            for entry in entries:
                yield entry.get("event_type") or "", base64.b64decode(entry["raw"])
            if not entries:
                return
            nxt = body.get("next_after") or entries[-1]["ledger_seq"]
            if nxt is None or int(nxt) <= after:
                return
            after = int(nxt)
    finally:
        if client is None:
            http.close()


def file_entries(path: Path) -> Iterator[Entry]:
    """Raw envelopes from a file with one base64-encoded envelope per line."""
    with path.open(encoding="ascii") as lines:
        for line in lines:
            if line.strip():
                yield "", base64.b64decode(line.strip())


@cache
def tls_context() -> ssl.SSLContext:
    """The default certificate checks, loaded once: a client made per rebuild otherwise loads
    the CA bundle every time (more than a tenth of a rebuild of 20,000 entries)."""
    return httpx.create_ssl_context()


def split_frames(buf: bytes, pos: int, expected: int, types: dict[bytes, str]
                 ) -> tuple[list[Entry], int, int, int | None]:
    """The whole frames in ``buf`` from ``pos``: (entries, position after them, the next
    ledger_seq expected, the end frame's cursor or None when the stream goes on)."""
    out: list[Entry] = []
    unpack, size, n = FRAME.unpack_from, FRAME.size, len(buf)
    while pos + size <= n:
        seq, type_len, event_len = unpack(buf, pos)
        if type_len == 0 and event_len == 0:
            return out, pos + size, expected, seq
        start = pos + size
        end = start + type_len + event_len
        if end > n:
            break
        if seq != expected:
            raise LedgerError(f"the export skipped from ledger_seq {expected} to {seq}")
        raw_type = buf[start:start + type_len]
        event_type = types.get(raw_type)
        if event_type is None:
            event_type = types[raw_type] = raw_type.decode("ascii", "replace")
        out.append((event_type, buf[start + type_len:end]))
        expected, pos = seq + 1, end
    return out, pos, expected, None


def ledger_export(base_url: str, token: str, *, after: int = 0, limit: int | None = None,
                  client: httpx.Client | None = None, read_bytes: int | None = None
                  ) -> Iterator[Entry]:
    """Entries in ledger order from `GET /v1/ledger/export` (audit), one streamed response,
    split as the bytes arrive (``read_bytes``: in pieces of that size instead; httpx's
    re-chunking copies every byte once more)."""
    http = client or httpx.Client(base_url=base_url, timeout=30, verify=tls_context())
    params = {"after": after} | ({"limit": limit} if limit else {})
    try:
        with http.stream("GET", "/v1/ledger/export", params=params,
                         headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status_code != 200:
                response.read()
                raise LedgerError(f"the ledger answered {response.status_code}: "
                                  f"{response.text[:300]}")
            buf, expected = b"", after
            types: dict[bytes, str] = {}
            for data in response.iter_bytes(read_bytes):
                buf = buf + data if buf else data
                entries, used, expected, end = split_frames(buf, 0, expected, types)
                buf = buf[used:]
                yield from entries
                if end is not None:
                    return
        raise LedgerError("the ledger's export stopped before its end")
    except httpx.HTTPError as exc:
        raise LedgerError(f"cannot read the ledger at {base_url}: {exc}") from exc
    finally:
        if client is None:
            http.close()
