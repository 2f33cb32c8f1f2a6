"""The bus's principals and ACLs on a broker: SCRAM users and their grants (backbone.bus_access).

    python -m tools.bus_security provision [--bootstrap 127.0.0.1:19092] [--prefix P]
        [--passwords FILE]      creates every SCRAM-SHA-512 user and its ALLOW ACLs (idempotent)
    python -m tools.bus_security env SERVICE [--passwords FILE]
        the MINSHENG_KAFKA_* lines a service needs to use the secured listener (19094)
    python -m tools.bus_security plan [--prefix P]      the grants, one per line

Run as a super user of the brokers: locally that is the development PLAINTEXT listener
(ANONYMOUS is a super user there, deploy/local/infra.py); elsewhere set
MINSHENG_KAFKA_SECURITY_PROTOCOL=SASL_SSL and the administrator's MINSHENG_KAFKA_SASL_USERNAME /
_PASSWORD / _SSL_CAFILE. Passwords: a JSON file {principal: password}; in development the
file .data/keys/kafka-users.json is made on first use (mode 0600), random per checkout. A
broker without an authorizer (one started before this existed) answers SECURITY_DISABLED:
provisioning then says so and stops without failing (restart the broker to enable it).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from backbone import bus_access

ROOT = Path(__file__).resolve().parents[1]
DEV_PASSWORDS = Path(os.environ.get("MINSHENG_DATA", ROOT / ".data")) / "keys" / "kafka-users.json"
SECURED_PORT = int(os.environ.get("KAFKA_SASL_PORT", "19094"))


def unit_codes() -> list[str]:
    """Every unit of the seed registry (dispatch's data/units.json)."""
    from services.dispatch.domain.units import load_unit_records

    return sorted({str(u["code"]) for u in load_unit_records()})


def passwords_for(principals: list[str], path: Path = DEV_PASSWORDS) -> dict[str, str]:
    """The passwords file, with a random password added for any principal it lacks."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [p for p in principals if p not in known]
    if missing:
        known.update({p: secrets.token_urlsafe(24) for p in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        tmp.chmod(0o600)
        tmp.replace(path)
    return known


def admin_options(bootstrap: str, protocol: str = "PLAINTEXT", username: str = "",
                  password: str = "", cafile: str = "") -> dict[str, Any]:
    """kafka-python's KafkaAdminClient options for the administrator."""
    options: dict[str, Any] = {"bootstrap_servers": bootstrap.split(","),
                               "security_protocol": protocol, "client_id": "minsheng-provision",
                               "request_timeout_ms": 30000}
    if protocol.startswith("SASL_"):
        options.update(sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=username,
                       sasl_plain_password=password)
    if protocol in ("SSL", "SASL_SSL") and cafile:
        options["ssl_cafile"] = cafile
    return options


def to_acl(grant: bus_access.Grant) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    pattern = ResourcePattern(
        ResourceType.TOPIC if grant.resource == "topic" else ResourceType.GROUP, grant.name,
        ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL)
    return ACL(principal=f"User:{grant.principal}", host="*",
               operation=ACLOperation[grant.operation], permission_type=ACLPermissionType.ALLOW,
               resource_pattern=pattern)


class SecurityDisabledError(RuntimeError):
    """The broker runs without an authorizer: ACLs cannot be made there."""


def provision(options: dict[str, Any], plan: bus_access.Plan,
              passwords: dict[str, str]) -> dict[str, int]:
    """Create (or reset) every principal's SCRAM-SHA-512 credential and its ACLs."""
    from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion

    admin = KafkaAdminClient(**options)
    try:
        result = admin.create_acls([to_acl(g) for g in plan.grants])
        failed = result["failed"]
        if failed:
            names = {getattr(e, "__name__", type(e).__name__) for e in failed}
            if any("SecurityDisabled" in n for n in names):
                raise SecurityDisabledError("the broker has no authorizer")
            raise RuntimeError(f"{len(failed)} ACLs refused: {sorted(names)}")
        removed = _remove_stale(admin, plan)
        errors = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(p, ScramMechanism.SCRAM_SHA_512, passwords[p])
             for p in plan.principals()])
        bad = {u: e for u, e in errors.items() if e}
        if bad:
            raise RuntimeError(f"SCRAM credentials refused: {bad}")
        return {"principals": len(plan.principals()), "acls": len(result["succeeded"]),
                "stale_acls_removed": removed}
    finally:
        admin.close()


def _key(acl: Any) -> tuple[str, str, str, str, str]:
    pattern = acl.resource_pattern
    return (acl.principal, pattern.resource_type.name, pattern.resource_name,
            pattern.pattern_type.name, acl.operation.name)


def _remove_stale(admin: Any, plan: bus_access.Plan) -> int:
    """Delete the ALLOW ACLs of the plan's principals that the plan no longer grants: the
    plan is the truth, so a grant narrowed in a later version (a unit's consumer groups,
    once a prefix that named other units' groups too) does not live on in a broker
    provisioned before it."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    wanted = {_key(to_acl(g)) for g in plan.grants}
    stale = []
    for principal in plan.principals():
        found, error = admin.describe_acls(ACLFilter(
            principal=f"User:{principal}", host="*", operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                   ACLResourcePatternType.ANY)))
        if error is not None and getattr(error, "errno", 0):
            raise RuntimeError(f"ACLs of {principal} not read: {error}")
        stale += [acl for acl in found if _key(acl) not in wanted]
    if stale:
        admin.delete_acls([ACLFilter(
            principal=acl.principal, host=acl.host, operation=acl.operation,
            permission_type=acl.permission_type,
            resource_pattern=ResourcePatternFilter(
                acl.resource_pattern.resource_type, acl.resource_pattern.resource_name,
                acl.resource_pattern.pattern_type)) for acl in stale])
    return len(stale)


def service_env(service: str, passwords: dict[str, str], port: int = SECURED_PORT) -> dict[str, str]:
    principal = bus_access.service_principal(service)
    return {"MINSHENG_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            "MINSHENG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "MINSHENG_KAFKA_SASL_USERNAME": principal,
            "MINSHENG_KAFKA_SASL_PASSWORD": passwords[principal]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bus_security", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("provision", "env", "plan"):
        p = sub.add_parser(name)
        p.add_argument("--prefix", default=os.environ.get("MINSHENG_TOPIC_PREFIX", ""))
        p.add_argument("--passwords", type=Path, default=DEV_PASSWORDS)
        if name == "provision":
            p.add_argument("--bootstrap",
                           default=os.environ.get("MINSHENG_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
        if name == "env":
            p.add_argument("service", choices=sorted(bus_access.SERVICES))
    args = parser.parse_args(argv)
    plan = bus_access.plan(unit_codes(), args.prefix)
    if args.cmd == "plan":
        for g in plan.grants:
            star = "*" if g.prefixed else ""
            print(f"User:{g.principal:<24} {g.operation:<9} {g.resource} {g.name}{star}")
        return 0
    passwords = passwords_for(plan.principals(), args.passwords)
    if args.cmd == "env":
        for key, value in service_env(args.service, passwords).items():
            print(f"{key}={value}")
        return 0
    host, _, port = args.bootstrap.split(",")[0].rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex((host, int(port))) != 0:
            print(f"[bus] no broker on {args.bootstrap}: nothing provisioned")
            return 0
    env = os.environ
    options = admin_options(args.bootstrap, env.get("MINSHENG_KAFKA_SECURITY_PROTOCOL",
                                                    "PLAINTEXT"),
                            env.get("MINSHENG_KAFKA_SASL_USERNAME", ""),
                            env.get("MINSHENG_KAFKA_SASL_PASSWORD", ""),
                            env.get("MINSHENG_KAFKA_SSL_CAFILE", ""))
    try:
        done = provision(options, plan, passwords)
    except SecurityDisabledError:
        print(f"[bus] {args.bootstrap} runs without an authorizer (started before the secured "
              "listener existed): restart Kafka to enable SASL/SCRAM and ACLs; nothing done")
        return 0
    stale = f", {done['stale_acls_removed']} no longer granted removed" \
        if done["stale_acls_removed"] else ""
    print(f"[bus] {done['principals']} principals, {done['acls']} ACLs on {args.bootstrap}{stale} "
          f"(passwords: {args.passwords})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
