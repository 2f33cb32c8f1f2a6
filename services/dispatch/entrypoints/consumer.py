"""The lifecycle consumer: dispatch's handler table is application/handlers.py."""

from __future__ import annotations

from services.dispatch.application.handlers import handlers

__all__ = ["handlers"]
