"""Configuration by environment variables: one settings class per service extends this one."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import PrivateAttr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

UNIT_CODE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,60}$")
DEV_PEPPER = "minsheng-development-pepper"
# a port a listener or a client may name (0: the service serves none, where it may)
PORTS = {"http_port": 1, "grpc_port": 0, "pg_port": 1, "surges_http_port": 1}
# settings whose values an error message must not repeat
SECRET_WORDS = ("password", "secret", "token", "key", "pepper")


class ServiceSettings(BaseSettings):
    """What every service needs. Environment variables are upper-case with prefix MINSHENG_."""

    model_config = SettingsConfigDict(env_prefix="MINSHENG_", extra="ignore")

    # development | test | production. Unset means production: a deployment that forgets it
    # refuses to start on development keys and secrets instead of quietly using them.
    environment: str = "production"
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
    # The bus's wire (docs/security.md): PLAINTEXT is the local development listener (19092);
    # SASL_PLAINTEXT / SASL_SSL authenticate this service's own SCRAM principal, whose ACLs
    # let it write only its own topics and read what it consumes (backbone/bus_access.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = \
        "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""  # the CA that signed the brokers' certificates (PEM)
    # TLS on this service's own HTTP and gRPC listeners (PEM files); empty: plain
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_file: str = ""  # the CA this service trusts when it calls the others over TLS
    # Addresses (or CIDR networks) of proxies whose X-Forwarded-For this service believes
    # (e.g. the workbench in front of identity's login): a per-address rate limit then counts
    # the client they forward for. Empty: nobody's header is believed (the TCP peer counts).
    trusted_proxies: str = ""

    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_dbname: str = "minsheng"
    pg_pool_size: int = 8
    pg_schema: str = ""  # default: the service's name

    clock: str = "wall"  # wall | event: see backbone/clock.py
    # Tokens (backbone/auth.py). The JWKS file of the public keys this service accepts; empty:
    # the development keys under .data/keys (development only).
    token_public_keys: str = ""
    # The private key that signs staff tokens: the identity service's (and `make token`'s).
    token_signing_key: str = ""
    token_ttl_s: int = 8 * 3600  # staff tokens: one working day
    token_revocation_check: bool = True
    token_revocation_schema: str = "identity"  # where the identity service keeps revocations
    token_revocation_refresh_s: float = 5.0
    log_level: str = "INFO"
    # How long a starting service waits for PostgreSQL and Kafka to answer (one log line a try
    # saying why not), before it exits saying so: the Kubernetes startup probe's two minutes.
    startup_wait_s: float = 120.0
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"  # asyncio: the standard library's

    relay_interval_ms: int = 50
    relay_batch: int = 5000  # notifications a relay round reads, at most (fewer acks waited for)
    consumer_batch: int = 500
    # This process's stable name among its service's processes (deploy/local: the process and
    # its replica number, e.g. "dispatch.1"; Kubernetes: the pod's name). Given, each of its
    # consumers joins its group as a static member (Kafka's group.instance.id): restarted
    # under the same name after a crash it gets its partitions back at once, where a new
    # dynamic member waits until the dead one's session timeout (10 s) has run out. A static
    # member sends no LeaveGroup when it stops, so a process stopped for good holds its
    # partitions for the session timeout; two live processes must never share a name (the
    # group fences the older). Empty: dynamic membership. (The id sent is this name and a digest
    # of the consumer's topics: backbone.consumer.static_member_id.)
    consumer_instance: str = ""
    consumer_linger_ms: int = 5  # after a poll that did not fill a batch, wait this for more
    # longest idle long poll of a consumer's fetch (the broker answers at once when data comes)
    consumer_fetch_max_wait_ms: int = 5000
    # longest sleep of a consumer's background fetcher when nothing wakes it (aiokafka: 200)
    consumer_fetcher_timeout_ms: int = 2000
    # the routing path's consumers (dispatch, sla, feedback's decisions) gather their fetches
    # this long while events flow (16 KB or these ms; 0: answer at the first byte): a fetch
    # round per arriving event was most of their event loop's CPU (docs/architecture.md)
    routing_gather_ms: int = 20

    _auth_cache: dict[str, Any] = PrivateAttr(default_factory=dict)  # backbone.auth's

    @property
    def in_development(self) -> bool:
        return self.environment in ("development", "test")

    def production_problems(self) -> list[str]:
        """What production refuses in these settings (subclasses add their own)."""
        from backbone import auth  # (auth imports nothing from here at import time)

        problems = []
        if not self.token_public_keys:
            problems.append("MINSHENG_TOKEN_PUBLIC_KEYS is not set (the JWKS file of the "
                            "token public keys)")
        else:
            try:
                kids = list(auth.load_jwks(self.token_public_keys))
            except (OSError, ValueError) as exc:
                problems.append(f"MINSHENG_TOKEN_PUBLIC_KEYS cannot be read: {exc}")
            else:
                dev = [k for k in kids if auth.is_dev_kid(k)]
                if dev:
                    problems.append(f"MINSHENG_TOKEN_PUBLIC_KEYS holds development keys {dev}")
        if self.token_signing_key and auth.is_dev_kid(auth.kid_of(self.token_signing_key)):
            problems.append("MINSHENG_TOKEN_SIGNING_KEY is a development key")
        if self.clock != "wall":
            problems.append(f"MINSHENG_CLOCK={self.clock} (simulation time) is for development: "
                            "production runs on the wall clock")
        if self.kafka_security_protocol != "SASL_SSL":
            problems.append(f"MINSHENG_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}: "
                            "production's bus is authenticated and encrypted (SASL_SSL, this "
                            "service's SCRAM principal; docs/security.md)")
        return problems

    def unusable(self) -> list[str]:
        """Values no environment can run on, each named (a port Python would wrap around:
        99999 listened on 34463; a clock or log level that failed later with a traceback)."""
        problems = []
        for name, lowest in PORTS.items():
            port = getattr(self, name, None)
            if port is not None and not lowest <= port <= 65535:
                problems.append(f"MINSHENG_{name.upper()}={port} is not a port "
                                f"({lowest}-65535)")
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password):
            problems.append(f"MINSHENG_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} "
                            "needs MINSHENG_KAFKA_SASL_USERNAME and MINSHENG_KAFKA_SASL_PASSWORD")
        files = {"kafka_ssl_cafile": self.kafka_ssl_cafile, "tls_cert_file": self.tls_cert_file,
                 "tls_key_file": self.tls_key_file, "tls_ca_file": self.tls_ca_file}
        problems += [f"MINSHENG_{name.upper()}={path!r} is not a readable file"
                     for name, path in files.items()
                     if path and not os.access(path, os.R_OK)]
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            problems.append("TLS needs both MINSHENG_TLS_CERT_FILE and MINSHENG_TLS_KEY_FILE")
        if self.token_public_keys and self.in_development:  # (production names it itself)
            from backbone import auth

            try:
                auth.load_jwks(self.token_public_keys)
            except Exception as exc:  # (unreadable, not JSON, not a JWKS, no usable key)
                problems.append(f"MINSHENG_TOKEN_PUBLIC_KEYS cannot be read: {exc}")
        if self.clock not in ("wall", "event"):
            problems.append(f"MINSHENG_CLOCK must be wall or event, not {self.clock!r}")
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            problems.append(f"MINSHENG_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or "
                            f"CRITICAL, not {self.log_level!r}")
        return problems

    @model_validator(mode="after")
    def _fail_closed(self) -> ServiceSettings:
        if self.environment not in ("development", "test", "production"):
            raise ValueError(f"MINSHENG_ENVIRONMENT must be development, test or production, "
                             f"not {self.environment!r}")
        problems = []
        if not self.in_development and (refused := self.production_problems()):
            problems.append(f"{self.service} refuses to start in production: "
                            + "; ".join(refused))
        problems += self.unusable()
        if problems:
            raise ValueError("; ".join(problems))
        self.log_level = self.log_level.upper()  # (logging knows only the upper-case names)
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


Settings = TypeVar("Settings", bound=ServiceSettings)


def load(cls: type[Settings], **values: Any) -> Settings:
    """A starting service's settings from its environment. A value it cannot run on ends the
    process (exit 2) with one JSON line on stderr naming every such variable, instead of
    pydantic's traceback; values of secrets are never repeated."""
    try:
        settings = cls(**values)
    except ValidationError as exc:
        service = str(cls.model_fields["service"].default)
        reason = "; ".join(_named(error) for error in exc.errors())
        if not reason.startswith(f"{service} "):  # (production's refusal names it already)
            reason = f"{service} cannot start: {reason}"
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "error",
                "service": service, "logger": __name__, "msg": reason}
        print(json.dumps(line, ensure_ascii=False), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    unknown = unknown_variables(os.environ)
    if unknown:  # (a warning: one ConfigMap serves every service, each reads its own part)
        service = settings.service
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "warning",
                "service": service, "logger": __name__,
                "msg": f"{', '.join(unknown)}: no service of this platform has such a setting "
                       "(ignored; mistyped?)"}
        print(json.dumps(line, ensure_ascii=False), file=sys.stderr, flush=True)
    return settings


# MINSHENG_ variables read outside the settings classes: the launcher's, tools', tests'
READ_ELSEWHERE = {"ANALYTICS_ROLE", "DATA", "WEB_ASSETS_DIR", "PORT_OFFSET", "TEST_PATIENCE",
                  "KAFKA_LIBS", "PG_LOG", "PG_WALDIR", "CHAOS", "FUZZ_EXAMPLES",
                  "BENCH_KAFKA_COUNTS", "RECOGNITION_FIGURES", "SCREENSHOTS"}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The MINSHENG_ variables no service's settings (nor the launcher) read: an operator's
    typo (MINSHENG_HTTP_PROT) was ignored without a word, the service on its default."""
    import importlib
    import pkgutil

    known = set(READ_ELSEWHERE)
    with contextlib.suppress(ImportError):
        import services

        for module in pkgutil.iter_modules(services.__path__):
            with contextlib.suppress(ImportError):
                importlib.import_module(f"services.{module.name}.settings")
    classes = [ServiceSettings]
    while classes:
        cls = classes.pop()
        known |= {name.upper() for name in cls.model_fields}
        classes += cls.__subclasses__()
    return sorted(name for name in environ if name.startswith("MINSHENG_")
                  and name[len("MINSHENG_"):] not in known
                  and not name.startswith("MINSHENG_LOCAL_"))


def _named(error: Any) -> str:
    """One validation error as an operator reads it: the variable, what it holds, what is
    wrong (a model-wide check's message names its variables itself)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    field = str(error["loc"][0])
    variable = f"MINSHENG_{field.upper()}"
    if any(word in field for word in SECRET_WORDS) or not isinstance(error["input"], str):
        return f"{variable}: {message}"
    return f"{variable}={error['input']!r}: {message}"
