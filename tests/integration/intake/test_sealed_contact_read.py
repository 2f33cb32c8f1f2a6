"""The contact read's sealed contacts, read together as their one stored event each
(session 16: one SELECT for the reads that arrive together, decoded by the application's
mapper, no reconstruction of the aggregate), are what the repository's SealedContacts give;
an id with no contact is left out. (helper-103's test, for the batched read.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from backbone.store import ensure_database
from services.intake.application.citizens import Citizens
from services.intake.bootstrap import build_application
from services.intake.domain.citizen import SealedIdentity
from services.intake.domain.sealed_contact import SealedContact
from services.intake.settings import IntakeSettings

pytestmark = pytest.mark.integration


def test_the_sealed_contacts_read_as_their_events_are_the_aggregates(infra, unique):
    settings = IntakeSettings(environment="test", pg_dbname="intake_it", pg_schema=f"sc_{unique}")
    ensure_database(settings)
    app = build_application(settings)
    try:
        at = datetime.now(UTC)
        contacts = [SealedContact.of(uuid.uuid4(), SealedIdentity(
            f"citizen-{n}", bytes([n]) * 12, bytes(range(n, n + 40))), at) for n in range(5)]
        app.save(*contacts)
        citizens = Citizens.__new__(Citizens)  # (only its store is used here)
        citizens.app, citizens._select_sealed = app, None
        unknown = uuid.uuid4()
        ids = [contacts[3].id, unknown, *(c.id for c in contacts), contacts[0].id]
        read = citizens._sealed_contacts(ids)
        assert set(read) == {c.id for c in contacts}
        for contact in contacts:
            assert read[contact.id] == app.repository.get(contact.id).sealed
            assert read[contact.id] == SealedIdentity(contact.citizen, contact.sealed.nonce,
                                                      contact.sealed.ciphertext)
        assert citizens._sealed_contacts([unknown]) == {}
        assert citizens._sealed_contacts([contacts[2].id]) == {contacts[2].id: read[contacts[2].id]}
    finally:
        app.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))
