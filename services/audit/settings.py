"""The audit service's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from pathlib import Path

from backbone import auth
from backbone.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


class AuditSettings(ServiceSettings):
    service: str = "audit"
    http_port: int = 8106
    grpc_port: int = 50056

    # The checkpoint's origin line: names this ledger, so a checkpoint of another ledger (a
    # test platform, a staging copy) is never taken for one of ours.
    ledger_id: str = "minsheng.example/audit"
    # Ed25519 signing key: PEM text in MINSHENG_CHECKPOINT_KEY, else this file, generated
    # (mode 0600) on first start. Empty file setting: <data>/audit/<dbname>-<schema>-checkpoint.pem
    # in the data folder (MINSHENG_DATA, default <repo>/.data), as every other key
    checkpoint_key: str = ""
    checkpoint_key_file: str = ""
    checkpoint_key_name: str = "minsheng-audit"
    checkpoint_interval_s: float = 1.0
    # Checkpoints are also published here (a witness or an outside auditor can follow them).
    checkpoint_topic_name: str = "audit.checkpoints"
    # The ledger's writes run under this PostgreSQL role, which may INSERT and SELECT the ledger
    # tables and nothing more; "" keeps the connecting user (the triggers still refuse changes).
    writer_role: str = "minsheng_ledger_writer"
    max_page: int = 5000  # entries per page of /v1/ledger/entries
    # The ledger's consumer asks the broker for a fetch of 256 KB or this many ms while events
    # flow (0: answer at the first event): nobody waits on an entry within a fraction of a
    # second (auditors and the checkpoint read it back), and an append then takes many events
    # under one lock instead of one or two
    ledger_gather_ms: int = 200

    @property
    def checkpoint_topic(self) -> str:
        return self.topic(self.checkpoint_topic_name)

    def key_path(self) -> Path:
        if self.checkpoint_key_file:
            return Path(self.checkpoint_key_file)
        name = f"{self.pg_dbname}-{self.schema}-checkpoint.pem"
        path = auth.data_dir() / "audit" / name
        # Before 2026-12-07 the file was always under the code's own .data, whatever
        # MINSHENG_DATA said: a key made there is still used (looked up first), so an
        # upgrade never signs with a new key (the old checkpoints would not verify)
        legacy = ROOT / ".data" / "audit" / name
        return legacy if not path.exists() and legacy.exists() else path
