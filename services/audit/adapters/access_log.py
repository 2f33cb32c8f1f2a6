"""Who read which history, when: append-only (the same triggers as the ledger, ledger_tables)
and hash-chained like the ledger (backbone/access_log.py), so a changed, deleted or inserted
row is found by `verify` (GET /v1/access-log/verify)."""

from __future__ import annotations

from backbone.access_log import AccessLog as ChainedAccessLog


class AccessLog(ChainedAccessLog):
    """The audit schema's `access_log` table (created by ledger_tables.create_tables)."""
