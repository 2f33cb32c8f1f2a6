"""The identity service: staff accounts, login, logout (revocation), the token keys."""
