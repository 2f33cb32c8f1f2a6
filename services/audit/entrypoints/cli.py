"""The operator's commands.

    python -m services.audit verify [--json]       check the whole stored ledger
    python -m services.audit reconcile [--json]    every service's published events vs ledger
    python -m services.audit public-key            the checkpoint verifier key (vkey line)

Exit status: 0 when everything checks out, 1 when something was found, 2 on bad usage or
when the ledger cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from backbone.settings import load
from backbone.store import says_when_unreachable
from services.audit.settings import AuditSettings


def _print_findings(report: dict[str, Any]) -> None:
    print(f"ledger: {report['ledger_size']} entries, {report['checkpoints']} checkpoints, "
          f"newest signed size {report['latest_checkpoint']}, "
          f"{report['unconfirmed_entries']} entries after it (protected by chains only)")
    for f in report["findings"]:
        where = f["ledger_seq"] if f["last_seq"] in (None, f["ledger_seq"]) else \
            f"{f['ledger_seq']}..{f['last_seq']}"
        print(f"  {f['kind']:<26} at {where!s:<14} ticket {f['ticket_id'] or '-'}: {f['detail']}")
    print("VERIFIED: no tampering found" if report["ok"] else
          f"TAMPERED: {len(report['findings'])} findings")


def verify(settings: AuditSettings, as_json: bool) -> int:
    from services.audit.bootstrap import build_parts

    parts = build_parts(settings, pool_size=2)
    try:
        report = parts.verification.verify()
    finally:
        parts.pool.close()
    print(json.dumps(report, ensure_ascii=False, indent=2) if as_json else "", end="")
    if not as_json:
        _print_findings(report)
    return 0 if report["ok"] else 1


def reconcile(settings: AuditSettings, as_json: bool) -> int:
    import psycopg

    from services.audit.application.reconciliation import reconcile as run_reconciliation
    from services.audit.application.reconciliation import render

    try:
        report = run_reconciliation(settings)
    except psycopg.Error as exc:  # no ledger there, no access: say so, not a traceback
        print(f"cannot read the ledger in schema {settings.schema!r}: "
              f"{str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=2) if as_json else render(report))
    return 0 if report["ok"] else 1


def public_key(settings: AuditSettings) -> int:
    from services.audit.adapters.keys import load_or_create_signer

    signer = load_or_create_signer(name=settings.checkpoint_key_name,
                                   pem=settings.checkpoint_key, path=settings.key_path())
    print(signer.verifier.vkey())
    return 0


@says_when_unreachable
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.audit",
                                     description="Minsheng audit ledger: operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("verify", "reconcile"):
        p = sub.add_parser(name)
        p.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.add_parser("public-key")
    args = parser.parse_args(argv)
    settings = load(AuditSettings)
    if args.command == "verify":
        return verify(settings, args.json)
    if args.command == "reconcile":
        return reconcile(settings, args.json)
    return public_key(settings)


if __name__ == "__main__":
    sys.exit(main())
