"""Intake's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

from backbone import auth
from backbone.settings import DEV_PEPPER, ServiceSettings
from services.intake.domain.bus_seal import BusKeyring, keyring_from

# Development only: derived from a public string, refused outside development and test.
DEV_MASTER_KEY = base64.b64encode(hashlib.sha256(b"minsheng-development-master-key").digest()).decode()


class IntakeSettings(ServiceSettings):
    service: str = "intake"
    http_port: int = 8101
    region: str = "FY"  # ticket code prefix: 阜阳
    # Which parts this process runs (MINSHENG_INTAKE_ROLE, or `python -m services.intake ROLE`):
    # "api" = HTTP, outbox relay, bus consumer (the write side); "projector" = the read side:
    # the projector of intake's own log with the 并单 detector, and the lifecycle consumer;
    # "all" = both in one process (the default, so a plain `python -m services.intake` is a
    # whole intake). The local platform runs api and projector as two processes: scoring
    # duplicates and reading every service's events never take the GIL from requests.
    intake_role: Literal["all", "api", "projector"] = "all"
    pseudonym_pepper: str = DEV_PEPPER
    code_block: int = 50  # codes reserved per round trip to PostgreSQL
    pg_pool_size: int = 16  # HTTP threads, group commit, projector, relay and two consumers

    # Citizens' identities: AES-256 master key (base64) that wraps each citizen's data key.
    identity_master_key: str = DEV_MASTER_KEY
    identity_master_key_id: str = "m1"

    # Rate limits: an adapter bursts then sustains; one citizen may not flood the hotline.
    adapter_burst: float = 1000
    adapter_rate_per_s: float = 600
    citizen_burst: float = 5
    citizen_rate_per_s: float = 1 / 120
    # Public citizen sign-in (ask for an SMS code, trade it for a token): requests per minute
    # from one client address, shared by every replica (the per-phone limit is separate).
    citizen_sign_ins_per_minute: float = 60

    max_request_bytes: int = 64 * 1024  # a JSON request; attachments go to /v1/attachments
    max_attachment_bytes: int = 50 * 1024 * 1024
    # how long an upload stays sealed for intake alone, waiting for a ticket to carry it;
    # then only the citizens' own copies remain (application/attachments.py)
    intake_upload_retention_s: float = 24 * 3600

    open311_jurisdiction: str = "fuyang.gov.cn"
    duplicate_radius_m: float = 1000
    # 并单's candidates kept in memory: tickets submitted within this many hours of the newest
    # (at least the detector's window, 72 h; 0: twice it). ~3.7 KB a ticket (a city's 3,000 a
    # day: ~65 MB at 144 h, ~40 MB at 90 h); a ticket submitted further back than this minus
    # the window is scored against the index instead (a query; the same candidates).
    # docs/profiles/memory.md
    duplicate_keep_hours: float = 0
    projector_interval_ms: int = 50
    # The read side's consumer of other services' facts asks the broker for a fetch of 256 KB
    # or this many ms: nobody waits on those columns (who handles it, answered, closed), and
    # a batch then holds many events instead of one or two
    read_side_gather_ms: int = 200
    # woken by a commit, the projector lets more land this long before it reads its log
    projector_gather_ms: int = 100

    verification_ttl_s: int = 300
    verification_attempts: int = 5
    citizen_token_ttl_s: int = 24 * 3600
    # Intake's own key for citizen tokens (a PEM whose name starts with "citizen-"); its public
    # half is in every service's JWKS, which accepts it for role citizen only. Empty: the
    # development key (development only).
    citizen_signing_key: str = ""

    # The city's SMS gateway for one-time codes (MINSHENG_INTAKE_SMS_URL, ..._TOKEN): a JSON
    # POST. Unset: development and test write the message to the log (the code comes back in
    # the answer instead); elsewhere a code request answers 503 until a gateway is configured.
    intake_sms_url: str = ""
    intake_sms_token: str = ""
    intake_sms_timeout_s: float = 5.0
    intake_sms_sign: str = "阜阳12345"  # the 短信签名 the carrier registered for the city
    # feedback, where the citizen's rating from 我的诉求 (/me) is passed on with their own token
    intake_feedback_url: str = "http://127.0.0.1:8104"

    # Intake's X25519 private key(s) for personal data sealed on intake.requests (HPKE, see
    # domain/bus_seal.py): comma-separated PEM paths, the current one first. Empty: the
    # development key under .data/keys (development and test only).
    intake_bus_keys: str = ""

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.pseudonym_pepper == DEV_PEPPER:
            problems.append("MINSHENG_PSEUDONYM_PEPPER must be set outside development")
        if self.identity_master_key == DEV_MASTER_KEY:
            problems.append("MINSHENG_IDENTITY_MASTER_KEY must be set outside development")
        if not self.citizen_signing_key:
            problems.append("MINSHENG_CITIZEN_SIGNING_KEY is not set (intake's citizen-token "
                            "key)")
        elif auth.is_dev_kid(auth.kid_of(self.citizen_signing_key)):
            problems.append("MINSHENG_CITIZEN_SIGNING_KEY is a development key")
        if not self.intake_sms_url:
            problems.append("MINSHENG_INTAKE_SMS_URL is not set (the SMS gateway for one-time "
                            "codes)")
        if not self.intake_bus_keys:
            problems.append("MINSHENG_INTAKE_BUS_KEYS is not set (intake's key for personal "
                            "data sealed on intake.requests)")
        elif any(auth.is_dev_kid(auth.kid_of(p.strip()))
                 for p in self.intake_bus_keys.split(",") if p.strip()):
            problems.append("MINSHENG_INTAKE_BUS_KEYS names a development key")
        return problems

    @property
    def shows_codes_in_responses(self) -> bool:
        """One-time codes come back in the HTTP answer only where no SMS gateway exists."""
        return self.environment in ("development", "test")

    def master_keys(self) -> dict[str, bytes]:
        return {self.identity_master_key_id: base64.b64decode(self.identity_master_key)}


def bus_keyring(settings: IntakeSettings) -> BusKeyring:
    """Intake's keys for sealed personal data on the bus (development: made on first use)."""
    if not settings.intake_bus_keys and not settings.in_development:
        raise ValueError("MINSHENG_INTAKE_BUS_KEYS must be set outside development")
    return keyring_from(settings.intake_bus_keys, auth.dev_keys_dir())


def citizen_issuer(settings: IntakeSettings) -> auth.Issuer:
    """The issuer of citizen tokens: intake's citizen-only key."""
    path = settings.citizen_signing_key
    if not path:
        if not settings.in_development:
            raise ValueError("MINSHENG_CITIZEN_SIGNING_KEY must be set outside development")
        auth.ensure_dev_keys()
        path = str(auth.dev_keys_dir() / f"citizen{auth.DEV_KID_SUFFIX}.pem")
    issuer = auth.Issuer.from_pem(path, default_ttl_s=settings.citizen_token_ttl_s)
    if not issuer.kid.startswith(auth.CITIZEN_KID_PREFIX):
        raise ValueError(f"MINSHENG_CITIZEN_SIGNING_KEY's key id must start with "
                         f"{auth.CITIZEN_KID_PREFIX!r} (the file name), not {issuer.kid!r}")
    return issuer
