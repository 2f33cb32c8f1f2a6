"""`GET /v1/bus-key`: the public key bus adapters seal personal data to (domain/bus_seal.py)."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.domain.bus_seal import BusKeyring


def router(keyring: BusKeyring) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["channel adapters"])

    @api.get("/bus-key")
    def bus_key() -> dict[str, str]:
        """Intake's current X25519 public key (base64, raw 32 bytes) and its id: seal a bus
        request's contact, address, text, title, fields and attributes to it (HPKE)."""
        return keyring.current.describe()

    return api
