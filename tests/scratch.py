"""Settings for a test's own schema and topic prefix in the shared database and broker (the
`unique` fixture's id, claimed for the janitor's sweep), the database made ready."""

from __future__ import annotations

from backbone.settings import ServiceSettings
from backbone.store import ensure_database


def scratch_settings(infra: ServiceSettings, unique: str, *, service: str = "intake",
                     prefix: str = "t") -> ServiceSettings:
    settings = infra.model_copy(update={"service": service, "pg_schema": f"{prefix}_{unique}",
                                        "topic_prefix": f"{prefix}{unique}."})
    ensure_database(settings)
    return settings
