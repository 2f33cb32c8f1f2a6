"""Where a rebuild reads the lifecycle history: the audit ledger over HTTP, or any iterable of
raw envelopes (a file of base64 lines, or what a test published).

Each source yields ``(event type, raw envelope)``: the type as the ledger indexed it, so a
rebuild can pass over the events it does not count without decoding them ("" when the source
does not say it; the rebuild then decodes the envelope to find out).

`ledger_export` reads audit's bulk export (`GET /v1/ledger/export`: one streamed response of
length-prefixed binary frames, see services/audit/adapters/ledger_export.py); the caller folds
each received piece while audit sends the next into the socket's buffers. `ledger_entries`
reads the JSON pages of `GET /v1/ledger/entries` (base64 envelopes), the slower way.

With ``types``, the export sends only the entries of those types (a rebuild asks for the ones
analytics counts: the rest would be read, framed, sent and split for nothing); their
ledger_seqs then have gaps, and the stream's mark frames (how far it has covered, how many
entries it has sent) are what a lost range or entry is detected against. Either
way, after the end frame the export's ``positions`` is the number of ledger positions the
stream covered: every entry of the range, sent or left out at the source.
"""

from __future__ import annotations

import base64
import ssl
import struct
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import httpx

PAGE = 1000
FRAME = struct.Struct(">QHI")  # ledger_seq, length of the event type, length of the event
COUNT = struct.Struct(">Q")  # a mark frame's body: the entries sent since the stream began
MARKS_HEADER = "x-ledger-marks"  # audit's answer to `types`: the stream is filtered and marked
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


class Marks:
    """Where a filtered stream stands: ``covered`` (positions up to it, excluded, confirmed
    by a mark), ``expected`` (the lowest ledger_seq the next entry may have), ``sent``
    (entries received since the stream began)."""

    __slots__ = ("covered", "expected", "sent")

    def __init__(self, after: int) -> None:
        self.covered = self.expected = after
        self.sent = 0


def split_marked(buf: bytes, pos: int, marks: Marks, types: dict[bytes, str]
                 ) -> tuple[list[Entry], int, int | None]:
    """:func:`split_frames` for a filtered stream (gaps in ledger_seq, mark frames): the
    whole frames in ``buf`` from ``pos``: (entries, position after them, the end frame's
    cursor or None). A mark that does not move on, an entry out of order or past its range's
    mark, a count that is not the entries received, or an end short of the last mark raise
    LedgerError."""
    out: list[Entry] = []
    unpack, size, n = FRAME.unpack_from, FRAME.size, len(buf)
    expected, sent = marks.expected, marks.sent
    while pos + size <= n:
        seq, type_len, event_len = unpack(buf, pos)
        start = pos + size
        end = start + type_len + event_len
        if end > n:
            break
        if type_len == 0:
            if event_len == 0:  # the end
                if seq != marks.covered or expected != marks.covered:
                    raise LedgerError(f"the export ended at ledger_seq {seq} after covering "
                                      f"up to {marks.covered}, entries up to {expected - 1}")
                marks.expected, marks.sent = expected, sent
                return out, end, seq
            if event_len != COUNT.size:
                raise LedgerError(f"a mark frame of {event_len} bytes at ledger_seq {seq}")
            (count,) = COUNT.unpack_from(buf, start)
            if seq < expected or seq <= marks.covered:
                raise LedgerError(f"the export's mark at ledger_seq {seq} does not follow "
                                  f"{marks.covered} (next entry expected from {expected})")
            if count != sent:
                raise LedgerError(f"{sent} entries received up to ledger_seq {seq}, the export "
                                  f"says it sent {count}")
            marks.covered = expected = seq
        else:
            if seq < expected:
                raise LedgerError(f"the export went back from ledger_seq {expected} to {seq}")
            raw_type = buf[start:start + type_len]
            event_type = types.get(raw_type)
            if event_type is None:
                event_type = types[raw_type] = raw_type.decode("ascii", "replace")
            out.append((event_type, buf[start + type_len:end]))
            expected, sent = seq + 1, sent + 1
        pos = end
    marks.expected, marks.sent = expected, sent
    return out, pos, None


class ledger_export:  # noqa: N801 (called as the function it was; an iterable of entries)
    """Entries in ledger order from `GET /v1/ledger/export` (audit), one streamed response,
    split as the bytes arrive (``read_bytes``: in pieces of that size instead; httpx's
    re-chunking copies every byte once more). ``types``: only entries of those types (the
    export filters them at the source). Once iterated to the end, ``positions`` is the
    number of ledger positions covered (entries of every type)."""

    def __init__(self, base_url: str, token: str, *, after: int = 0, limit: int | None = None,
                 types: Iterable[str] | None = None, client: httpx.Client | None = None,
                 read_bytes: int | None = None) -> None:
        self.base_url, self.token, self.after, self.limit = base_url, token, after, limit
        self.types = None if types is None else sorted(set(types))
        self.client, self.read_bytes = client, read_bytes
        self.positions: int | None = None

    def __iter__(self) -> Iterator[Entry]:
        return self._entries()

    def _entries(self) -> Iterator[Entry]:
        after, limit, base_url = self.after, self.limit, self.base_url
        http = self.client or httpx.Client(base_url=base_url, timeout=30, verify=tls_context())
        params: dict[str, str | int] = {"after": after}
        if limit:
            params["limit"] = limit
        if self.types is not None:
            params["types"] = ",".join(self.types)
        try:
            with http.stream("GET", "/v1/ledger/export", params=params,
                             headers={"Authorization": f"Bearer {self.token}"}) as response:
                if response.status_code != 200:
                    response.read()
                    raise LedgerError(f"the ledger answered {response.status_code}: "
                                      f"{response.text[:300]}")
                buf, expected = b"", after
                types: dict[bytes, str] = {}
                # an audit that does not filter sends the whole stream, unmarked
                marks = Marks(after) if response.headers.get(MARKS_HEADER) else None
                for data in response.iter_bytes(self.read_bytes):
                    buf = buf + data if buf else data
                    if marks is None:
                        entries, used, expected, end = split_frames(buf, 0, expected, types)
                    else:
                        entries, used, end = split_marked(buf, 0, marks, types)
                    buf = buf[used:]
                    yield from entries
                    if end is not None:
                        self.positions = end - after
                        return
            raise LedgerError("the ledger's export stopped before its end")
        except httpx.HTTPError as exc:
            raise LedgerError(f"cannot read the ledger at {base_url}: {exc}") from exc
        finally:
            if self.client is None:
                http.close()
