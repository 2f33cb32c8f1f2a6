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
    # v2: the calibrated linear classifier and the territory judged on its own (docs/recognition.md).
    routing_version: int = 2
    # A JSON file of extra landmarks ({"landmarks": [{"name", "aliases", "county",
    # "subdistrict", "kind"}]}) that operators add without a release; read at start.
    dispatch_places_extra: str = ""
    # A JSON file of extra 权责清单 phrases ({"matters": [{"subcategory", "unit", "phrases"}]},
    # docs/routing-policy.md) that the city adds without a release; read and checked at start.
    dispatch_responsibilities_extra: str = ""
    # The assignment feed (StreamAssignments' pushes) reads the log at most once per this
    # many ms: under load the commits meanwhile share a read; idle, a commit is read at once.
    feed_gather_ms: int = 10
    sign_for_within_hours: float = 2.0
    bounce_back_within_hours: float = 24.0
