"""Intake's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from pydantic import model_validator

from backbone.settings import DEV_PEPPER, ServiceSettings


class IntakeSettings(ServiceSettings):
    service: str = "intake"
    http_port: int = 8101
    region: str = "FY"  # ticket code prefix: 阜阳
    pseudonym_pepper: str = DEV_PEPPER
    code_block: int = 50  # codes reserved per round trip to PostgreSQL

    @model_validator(mode="after")
    def _refuse_development_pepper(self) -> IntakeSettings:
        if self.environment not in ("development", "test") and self.pseudonym_pepper == DEV_PEPPER:
            raise ValueError("MINSHENG_PSEUDONYM_PEPPER must be set outside development")
        return self
