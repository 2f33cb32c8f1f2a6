"""Feedback's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from backbone.settings import ServiceSettings

DEV_RATING_LINK_SECRET = "minsheng-development-rating-link-secret-do-not-use"
ROOT = Path(__file__).resolve().parents[2]


class FeedbackSettings(ServiceSettings):
    service: str = "feedback"
    http_port: int = 8104
    # Signs the one-time rating links sent to citizens (>= 32 bytes).
    rating_link_secret: str = DEV_RATING_LINK_SECRET
    # Where a citizen opens a rating link: <base>/rate?t=<token> (this service serves /rate).
    rating_url_base: str = "http://127.0.0.1:8104"
    # Public endpoints, per client address and shared by every replica (429 + Retry-After):
    # the hall (search, one ticket, its pages) and the rating links (check and rate).
    hall_requests_per_minute: float = 120
    rating_link_requests_per_minute: float = 20
    # How often the timer loop looks for replies whose rating window has passed.
    unrated_check_interval_s: float = 5.0
    # The 1+8+N registry and category taxonomy, for display names in the hall (read only).
    unit_registry_path: Path = ROOT / "services" / "dispatch" / "data" / "units.json"
    taxonomy_path: Path = ROOT / "services" / "dispatch" / "data" / "taxonomy.json"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.rating_link_secret == DEV_RATING_LINK_SECRET:
            problems.append("MINSHENG_RATING_LINK_SECRET must be set outside development")
        return problems

    @model_validator(mode="after")
    def _refuse_short_link_secret(self) -> FeedbackSettings:
        if len(self.rating_link_secret.encode()) < 32:
            raise ValueError("MINSHENG_RATING_LINK_SECRET must be at least 32 bytes")
        return self
