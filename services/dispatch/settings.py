"""Dispatch's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    service: str = "dispatch"
    http_port: int = 8102
    grpc_port: int = 50052
    # The platform's review of units' replies: accept at once as reviewed_by "auto" (the demo
    # flows); false: every reply waits in the dispatchers' "awaiting review" queue.
    auto_accept_replies: bool = True
    # 重办: back to the unit that replied (false: to the dispatchers' queue).
    reopen_to_same_unit: bool = True
    routing_version: int = 1
    sign_for_within_hours: float = 2.0
    bounce_back_within_hours: float = 24.0
