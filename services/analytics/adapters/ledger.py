"""Where a rebuild reads the lifecycle history: the audit ledger over HTTP, or any iterable of
raw envelopes (a file of base64 lines, or what a test published)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx

PAGE = 1000


class LedgerError(RuntimeError):
    """The ledger could not be read; the rebuild stops and changes nothing."""


def ledger_entries(base_url: str, token: str, *, page: int = PAGE,
                   client: httpx.Client | None = None) -> Iterator[bytes]:
    """Raw envelopes in ledger order from `GET /v1/ledger/entries?after=&limit=` (audit)."""
    http = client or httpx.Client(base_url=base_url, timeout=30)
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
                yield base64.b64decode(entry["raw"])
            if not entries:
                return
            nxt = body.get("next_after") or entries[-1]["ledger_seq"]
            if nxt is None or int(nxt) <= after:
                return
            after = int(nxt)
    finally:
        if client is None:
            http.close()


def file_entries(path: Path) -> Iterator[bytes]:
    """Raw envelopes from a file with one base64-encoded envelope per line."""
    with path.open(encoding="ascii") as lines:
        for line in lines:
            if line.strip():
                yield base64.b64decode(line.strip())
