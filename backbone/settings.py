"""Configuration by environment variables: one settings class per service extends this one."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

UNIT_CODE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,60}$")
DEV_TOKEN_SECRET = "minsheng-development-secret-do-not-use-in-production"
DEV_PEPPER = "minsheng-development-pepper"


class ServiceSettings(BaseSettings):
    """What every service needs. Environment variables are upper-case with prefix MINSHENG_."""

    model_config = SettingsConfigDict(env_prefix="MINSHENG_", extra="ignore")

    environment: str = "development"  # development | test | production
    service: str = "unnamed"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 0  # 0: this service serves no gRPC

    kafka_bootstrap: str = "127.0.0.1:19092"
    # Prepended to every topic and consumer group name: lets a test run a whole isolated
    # platform beside the demo one on the same broker.
    topic_prefix: str = ""
    # Topics this platform creates get these (docs/operations.md): 1 and 1 on one broker,
    # 3 and 2 on a cluster, so one broker's loss keeps every topic writable and durable.
    kafka_replication_factor: int = 1
    kafka_min_insync_replicas: int = 1

    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_dbname: str = "minsheng"
    pg_pool_size: int = 8
    pg_schema: str = ""  # default: the service's name

    clock: str = "wall"  # wall | event: see backbone/clock.py
    token_secret: str = DEV_TOKEN_SECRET
    log_level: str = "INFO"
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"  # asyncio: the standard library's

    relay_interval_ms: int = 50
    relay_batch: int = 500
    consumer_batch: int = 500

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> ServiceSettings:
        in_development = self.environment in ("development", "test")
        if not in_development and self.token_secret == DEV_TOKEN_SECRET:
            raise ValueError("MINSHENG_TOKEN_SECRET must be set outside development")
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def lifecycle_topic(self) -> str:
        """Every lifecycle event of every ticket, keyed by ticket id."""
        return self.topic("tickets.events")

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("tickets.dead-letter")

    def assignment_topic(self, unit_code: str) -> str:
        """What one unit's systems subscribe to."""
        if not UNIT_CODE.match(unit_code):
            raise ValueError(f"not a unit code usable in a topic name: {unit_code!r}")
        return self.topic(f"assignments.{unit_code}")

    def group(self, consumer: str) -> str:
        return f"minsheng.{self.topic_prefix}{consumer}"

    @property
    def schema(self) -> str:  # type: ignore[override]  # (shadows pydantic's deprecated .schema())
        """Each service keeps its state in its own PostgreSQL schema."""
        return (self.pg_schema or self.service).replace("-", "_")

    def pg_conninfo(self) -> str:
        parts = [f"host={self.pg_host}", f"port={self.pg_port}", f"user={self.pg_user}",
                 f"dbname={self.pg_dbname}"]
        if self.pg_password:
            parts.append(f"password={self.pg_password}")
        return " ".join(parts)
