"""Feedback's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from backbone import auth
from backbone.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


class FeedbackSettings(ServiceSettings):
    service: str = "feedback"
    http_port: int = 8104
    # Feedback's own key for the one-time rating links sent to citizens: a PKCS#8 PEM whose
    # file name (its kid) starts with "rating-link-" (`python -m backbone.auth keygen --kid
    # rating-link-2027a`); its public half goes into every service's JWKS. Empty: the
    # development key (development only; production refuses to start without one).
    rating_link_signing_key: str = ""
    # Where a citizen opens a rating link: <base>/rate?t=<token> (this service serves /rate).
    rating_url_base: str = "http://127.0.0.1:8104"
    # Public endpoints, per client address and shared by every replica (429 + Retry-After):
    # the hall (search, one ticket, its pages) and the rating links (check and rate). The
    # hall's page polls every 5 s and many phones share a carrier's NAT address: generous.
    hall_requests_per_minute: float = 600
    rating_link_requests_per_minute: float = 20
    # How often the timer loop looks for replies whose rating window has passed.
    unrated_check_interval_s: float = 5.0
    # The hall's consumer (public hall, never the decisions') asks the broker for a fetch of
    # 256 KB or this many ms while events flow (0: answer at the first event): the hall's page
    # polls every 5 s, and a batch then holds many events instead of one or two, and more of
    # a ticket's events: its hall row is read and written once per batch (feedback.hall was
    # updated 3.53 times per ticket at 200 ms and 64 KB, docs/profiles/postgresql-per-ticket.md)
    hall_gather_ms: int = 1000
    # The decisions consumer (replies to deliver, records to open) asks for a fetch of this
    # many bytes or ms while events flow, whichever first. Not the routing path
    # (MINSHENG_ROUTING_GATHER_MS, 20 ms: submission -> assignment): what waits on it is the
    # citizen's notice of an accepted reply, for which 300 ms is nothing. Every event on the
    # topic counts towards the bytes, wanted or not (~9 KB a ticket): at make bench's ~23
    # tickets/s 16 KB ended a gather after ~70 ms whatever the time allowed (100 vs 300 ms:
    # 7.03 vs 6.93 ms of feedback's CPU per ticket, no change); 64 KB or 300 ms lets a batch
    # hold ~3x the tickets (fewer transactions, thread hops, first-sight reads): 7.13 ->
    # 5.13 ms per ticket (bench/feedback_cost.py --rate 23, docs/profiles/feedback-cpu.md).
    # At make bench's later 45-60 tickets/s 64 KB again ended a gather first (~120-150 ms);
    # 256 KB leaves it to the 300 ms (the bound the notices already had): a third fewer
    # batches (consumer_positions updates 1.6 -> 1.2 a ticket), feedback's CPU 3.44 -> 3.13
    # ms a ticket at 45/s (session 16). MINSHENG_DECISIONS_GATHER_BYTES=65536: as before.
    decisions_gather_ms: int = 300
    decisions_gather_bytes: int = 256 * 1024
    # The 1+8+N registry and category taxonomy, for display names in the hall (read only).
    unit_registry_path: Path = ROOT / "services" / "dispatch" / "data" / "units.json"
    taxonomy_path: Path = ROOT / "services" / "dispatch" / "data" / "taxonomy.json"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.rating_link_signing_key:
            problems.append("MINSHENG_RATING_LINK_SIGNING_KEY is not set (feedback's key for "
                            "the one-time rating links)")
        elif auth.is_dev_kid(auth.kid_of(self.rating_link_signing_key)):
            problems.append("MINSHENG_RATING_LINK_SIGNING_KEY is a development key")
        return problems

    @model_validator(mode="after")
    def _rating_link_key_named_so(self) -> FeedbackSettings:
        kid = auth.kid_of(self.rating_link_signing_key) if self.rating_link_signing_key else ""
        if kid and not kid.startswith(auth.RATING_LINK_KID_PREFIX):
            raise ValueError(f"MINSHENG_RATING_LINK_SIGNING_KEY's key id (its file name) must "
                             f"start with {auth.RATING_LINK_KID_PREFIX!r}, not {kid!r}")
        return self


def rating_link_issuer(settings: FeedbackSettings) -> auth.Issuer:
    """The issuer of rating links: feedback's rating-link key (the development one in
    development)."""
    path = settings.rating_link_signing_key
    if not path:
        if not settings.in_development:
            raise ValueError("MINSHENG_RATING_LINK_SIGNING_KEY must be set outside development")
        auth.ensure_dev_keys()
        path = str(auth.dev_keys_dir() / f"rating-link{auth.DEV_KID_SUFFIX}.pem")
    return auth.Issuer.from_pem(path)
