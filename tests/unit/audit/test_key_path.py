"""Where the checkpoint signing key is kept when no key or key file is configured: in the data
folder (MINSHENG_DATA) with every other key, so a new version started over the old data folder
signs with the old key and the old checkpoints still verify; a key made before under the code's
own .data is still found."""

from __future__ import annotations

from services.audit import settings as audit_settings
from services.audit.settings import AuditSettings


def test_the_key_lives_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(audit_settings, "ROOT", tmp_path / "code")
    path = AuditSettings(pg_dbname="city").key_path()
    assert path == tmp_path / "data" / "audit" / "city-audit-checkpoint.pem"


def test_a_key_made_under_the_codes_own_data_folder_is_still_used(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(audit_settings, "ROOT", tmp_path / "code")
    legacy = tmp_path / "code" / ".data" / "audit" / "city-audit-checkpoint.pem"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("old key")
    assert AuditSettings(pg_dbname="city").key_path() == legacy
    # once the data folder holds one, that one is used
    current = tmp_path / "data" / "audit" / "city-audit-checkpoint.pem"
    current.parent.mkdir(parents=True)
    current.write_text("key")
    assert AuditSettings(pg_dbname="city").key_path() == current


def test_a_configured_key_file_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path / "data"))
    chosen = tmp_path / "k.pem"
    assert AuditSettings(checkpoint_key_file=str(chosen)).key_path() == chosen
