"""The administrator's account commands.

    python -m services.identity users add USERNAME --role unit --unit yingzhou --name 颍州区
    python -m services.identity users passwd USERNAME
    python -m services.identity users disable|enable USERNAME
    python -m services.identity users list [--json]

Passwords come from standard input (one line; for scripts) or, at a terminal, a prompt asked
twice: never from the command line, where `ps` and the shell's history would keep them.
Disabling a user or changing a password revokes the user's open sessions.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from psycopg_pool import ConnectionPool

from backbone.settings import load
from backbone.store import ensure_database, says_when_unreachable
from services.identity.domain.accounts import STAFF_ROLES, AccountError


def read_password(stdin: TextIO) -> str:
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("新密码 (password): ")
    if first != getpass.getpass("再输一次 (again): "):
        raise AccountError("the two passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.identity users",
                                     description="manage Minsheng staff accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account (password from stdin or prompt)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=STAFF_ROLES)
    add.add_argument("--unit", default="", help="the unit code, for role unit")
    add.add_argument("--name", required=True, help="the display name (显示名)")
    for name in ("passwd", "disable", "enable"):
        commands.add_parser(name).add_argument("username")
    listing = commands.add_parser("list")
    listing.add_argument("--json", action="store_true")
    return parser


@says_when_unreachable
def main(argv: list[str], stdin: TextIO | None = None) -> int:
    from services.identity.bootstrap import build_parts
    from services.identity.settings import IdentitySettings

    args = _parser().parse_args(argv)
    stdin = stdin or sys.stdin
    settings = load(IdentitySettings)
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True) as pool:
        sessions = build_parts(settings, pool, None).sessions
        try:
            if args.command == "add":
                account = sessions.add_user(username=args.username, display_name=args.name,
                                            role=args.role, unit=args.unit,
                                            password=read_password(stdin))
                print(f"added {account.username} ({account.role}"
                      f"{':' + account.unit if account.unit else ''})")
            elif args.command == "passwd":
                revoked = sessions.set_password(args.username, read_password(stdin))
                print(f"password changed; {revoked} open session(s) revoked")
            elif args.command in ("disable", "enable"):
                revoked = sessions.disable(args.username, args.command == "disable")
                print(f"{args.username} {args.command}d; {revoked} open session(s) revoked")
            else:
                rows = sessions.store.all()
                if args.json:
                    print(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
                for r in [] if args.json else rows:
                    print(f"{r['username']:<20} {r['role']:<16} {r['unit'] or '-':<14} "
                          f"{'DISABLED' if r['disabled'] else 'active':<9} {r['display_name']}")
        except AccountError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    return 0
