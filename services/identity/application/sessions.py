"""Logging in and out, and the administrator's account commands."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backbone import auth
from services.identity.adapters.passwords import Passwords
from services.identity.adapters.store import IdentityStore
from services.identity.domain.accounts import (
    MAX_PASSWORD,
    AccountError,
    StaffAccount,
    check_password,
    normalise_username,
)
from services.identity.domain.lockout import LockoutPolicy

log = logging.getLogger(__name__)


@dataclass
class LoginRefused(Exception):
    """401 wrong credentials / disabled; 423 locked (retry_after_s)."""

    status: int
    reason: str
    retry_after_s: int = 0


class Sessions:
    def __init__(self, *, store: IdentityStore, passwords: Passwords, issuer: auth.Issuer,
                 revocations: auth.RevocationList | None, policy: LockoutPolicy, ttl_s: int):
        self.store = store
        self.passwords = passwords
        self.issuer = issuer
        self.revocations = revocations
        self.policy = policy
        self.ttl_s = ttl_s

    def login(self, username: str, password: str) -> dict[str, Any]:
        name = normalise_username(username)
        now = datetime.now(UTC)
        state = self.store.lock_state(name)
        locked = state.locked_at(now) if state else None
        if locked is not None:
            raise LoginRefused(423, "too many failed logins: this account is locked for a "
                                    "while", retry_after_s=max(1, int(locked.total_seconds())))
        found = self.store.get(name) if 0 < len(password) <= MAX_PASSWORD else None
        stored = found[1] if found else None
        if not self.passwords.check(stored, password[:MAX_PASSWORD]) or found is None:
            after = self.store.record_failure(name, self.policy, now)
            log.info("failed login (%d in window)", after.count)
            raise LoginRefused(401, "wrong username or password")
        account, stored_hash = found
        self.store.clear_failures(name)
        if account.disabled:
            raise LoginRefused(401, "this account is disabled")
        if self.passwords.needs_rehash(stored_hash):
            self.store.set_hash(name, self.passwords.hash(password))
        issued = int(now.timestamp())
        token = self.issuer.mint(sub=account.username, role=account.role, unit=account.unit,
                                 ttl_s=self.ttl_s, now=issued)
        principal = auth.Verifier({self.issuer.kid: self.issuer.key.public_key()},
                                  audience="identity").verify(token, now=issued)
        expires = datetime.fromtimestamp(principal.expires_at, UTC)
        self.store.record_session(principal.jti, account.username, now, expires)
        log.info("login %s role=%s unit=%s", account.username, account.role, account.unit or "-")
        return {"token": token, "token_type": "Bearer", "expires_at": expires.isoformat(),
                "expires_in_s": self.ttl_s, "username": account.username,
                "display_name": account.display_name, "role": account.role,
                "unit": account.unit}

    def logout(self, principal: auth.Principal) -> None:
        expires = datetime.fromtimestamp(principal.expires_at or datetime.now(UTC).timestamp(),
                                         UTC)
        self.store.revoke(principal.jti, principal.sub, expires, "logout")
        if self.revocations is not None:
            self.revocations.add(principal.jti)

    # --- administration (the `users` command) ---

    def add_user(self, *, username: str, display_name: str, role: str, unit: str,
                 password: str) -> StaffAccount:
        account = StaffAccount(normalise_username(username), display_name.strip(), role, unit)
        check_password(account.username, password)
        if not self.store.add(account, self.passwords.hash(password)):
            raise AccountError(f"user {account.username!r} exists already")
        return account

    def set_password(self, username: str, password: str) -> int:
        name = normalise_username(username)
        check_password(name, password)
        if not self.store.set_hash(name, self.passwords.hash(password)):
            raise AccountError(f"no user {name!r}")
        self.store.clear_failures(name)
        return len(self._revoke_all(name, "password changed"))

    def disable(self, username: str, disabled: bool = True) -> int:
        name = normalise_username(username)
        if not self.store.set_disabled(name, disabled):
            raise AccountError(f"no user {name!r}")
        return len(self._revoke_all(name, "disabled")) if disabled else 0

    def _revoke_all(self, name: str, reason: str) -> list[str]:
        revoked = self.store.revoke_sessions_of(name, reason)
        if self.revocations is not None:
            for jti in revoked:
                self.revocations.add(jti)
        return revoked
