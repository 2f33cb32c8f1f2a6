"""Staff accounts: who may log in, as what role, for which unit."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backbone.auth import ROLES
from backbone.settings import UNIT_CODE

# Citizens verify by SMS at intake; "system" is for services, never a person.
STAFF_ROLES = tuple(r for r in ROLES if r not in ("citizen", "system"))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256


class AccountError(ValueError):
    """A request about an account the caller can fix (400)."""


def normalise_username(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class StaffAccount:
    username: str
    display_name: str
    role: str
    unit: str = ""
    disabled: bool = False

    def __post_init__(self) -> None:
        if not USERNAME.match(self.username):
            raise AccountError("username: 2-63 of a-z 0-9 . _ -, starting with a letter or digit")
        if self.role not in STAFF_ROLES:
            raise AccountError(f"role must be one of {', '.join(STAFF_ROLES)}")
        if self.role == "unit" and not UNIT_CODE.match(self.unit):
            raise AccountError("a unit account must name its unit code (e.g. yingzhou)")
        if self.role != "unit" and self.unit:
            raise AccountError("only unit accounts carry a unit")
        if not self.display_name.strip() or len(self.display_name) > 64:
            raise AccountError("display name: 1-64 characters")


def check_password(username: str, password: str) -> None:
    """The password rules an administrator's new password must meet."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"password: {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    if username in password.lower():
        raise AccountError("password must not contain the username")
    if len(set(password)) < 5:
        raise AccountError("password: at least 5 different characters")
