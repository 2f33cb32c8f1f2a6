"""Who read which history, when: append-only (the same triggers as the ledger, ledger_tables)
and hash-chained like the ledger, so a changed, deleted or inserted row is found by `verify`
(GET /v1/access-log/verify).

The shared hash-chained log (backbone/access_log.py: one pipelined round trip per write on the
head this process last wrote, group commit of concurrent reads, `record_soon` for a read that
builds its answer while the commit waits for the disk), on the audit schema's table.
"""

from __future__ import annotations

from typing import Any

from backbone.access_log import AccessLog as ChainedAccessLog


class AccessLog(ChainedAccessLog):
    """The audit schema's `access_log` table (created by ledger_tables.create_tables)."""

    def __init__(self, pool: Any, schema: str, table: str = "access_log"):
        super().__init__(pool, schema, table)
