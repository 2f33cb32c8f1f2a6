"""The workbench's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class WorkbenchSettings(ServiceSettings):
    service: str = "workbench"
    http_port: int = 8108
    # The services the workbench calls server-side, with the signed-in user's own token.
    identity_url: str = "http://127.0.0.1:8107"
    intake_url: str = "http://127.0.0.1:8101"
    dispatch_url: str = "http://127.0.0.1:8102"
    dispatch_grpc: str = "127.0.0.1:50052"
    sla_url: str = "http://127.0.0.1:8103"
    feedback_url: str = "http://127.0.0.1:8104"
    audit_url: str = "http://127.0.0.1:8106"
    upstream_timeout_s: float = 15.0
    # The session cookie: HttpOnly, SameSite=Strict; Secure outside development (HTTPS).
    session_cookie: str = "minsheng_session"
    session_ttl_s: int = 8 * 3600
    export_max_rows: int = 100_000  # one sheet; a larger selection is refused with the reason
    # Seed the knowledge base (知识库) from data/knowledge.json when it is empty.
    seed_knowledge: bool = True
    # The list's consumer asks the broker for a fetch of 64 KB or this many ms, whichever comes
    # first: people read the list, 200 ms late is nothing, and a batch then holds many events
    # (while events flow: an idle consumer long-polls as every other, backbone.consumer._pace)
    list_gather_ms: int = 200
    # rows of the list its consumer keeps in memory (~1-2 KB each; entrypoints/consumer.py)
    list_rows_kept: int = 4096

    @property
    def cookie_secure(self) -> bool:
        return self.environment not in ("development", "test")
