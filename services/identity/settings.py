"""The identity service's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from pydantic import model_validator

from backbone.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service: str = "identity"
    http_port: int = 8107
    pg_pool_size: int = 4
    # Lockout: this many failed logins for one username within the window lock it this long.
    lockout_failures: int = 5
    lockout_window_s: int = 15 * 60
    lockout_s: int = 15 * 60
    # Logins one client address may try per minute, whatever the usernames (429 beyond).
    logins_per_minute: float = 30
    # Where /login may send the browser afterwards (besides this service's own paths): origins
    # such as http://127.0.0.1:8108 (the workbench). The token goes in the URL fragment
    # (#minsheng.token=...), which browsers never send to a server.
    login_redirect_origins: str = "http://127.0.0.1:8108,http://localhost:8108"

    @model_validator(mode="after")
    def _own_revocations(self) -> IdentitySettings:
        # this service keeps the revocation list: read it where it writes it
        if self.token_revocation_schema == "identity":
            self.token_revocation_schema = self.schema
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.token_signing_key:
            problems.append("MINSHENG_TOKEN_SIGNING_KEY is not set (the identity service signs "
                            "staff tokens)")
        return problems

    def redirect_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.login_redirect_origins.split(",") if o.strip()}
