"""Tokens (backbone/auth.py): EdDSA JWTs with kid, issuer, audience, expiry, jti, ticket scope,
rotation, revocation; the citizen key signs citizen tokens only; legacy ms1 tokens refused."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backbone import auth
from backbone.settings import ServiceSettings


def keys(*kids: str) -> tuple[dict[str, auth.Issuer], dict]:
    issuers = {kid: auth.Issuer(kid, Ed25519PrivateKey.generate()) for kid in kids}
    return issuers, {kid: i.key.public_key() for kid, i in issuers.items()}


def verifier(public: dict, audience: str = "dispatch", revoked: set[str] | None = None
             ) -> auth.Verifier:
    revocations = None
    if revoked is not None:
        revocations = auth.RevocationList(lambda: set(revoked))
        revocations.refresh()
    return auth.Verifier(public, audience=audience, revocations=revocations)


def test_a_token_round_trips_with_every_claim():
    issuers, public = keys("identity-a")
    token = issuers["identity-a"].mint(sub="u1-oa", role="unit", unit="u1")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"] == "identity-a"
    assert claims["iss"] == "minsheng" and "dispatch" in claims["aud"]
    assert claims["exp"] - claims["iat"] == 8 * 3600  # a working day, not a month
    assert len(claims["jti"]) == 32 and claims["tkt"] == ""
    who = verifier(public).verify(token)
    assert (who.sub, who.role, who.unit, who.jti) == ("u1-oa", "unit", "u1", claims["jti"])


def test_each_service_accepts_only_tokens_for_it():
    issuers, public = keys("identity-a")
    token = issuers["identity-a"].mint(sub="x", role="dispatcher", audience=["sla"])
    assert verifier(public, "sla").verify(token).role == "dispatcher"
    with pytest.raises(auth.AuthError, match="not for this service"):
        verifier(public, "dispatch").verify(token)


def test_forged_unknown_key_other_issuer_and_unsigned_tokens_are_refused():
    issuers, public = keys("identity-a")
    forger = auth.Issuer("identity-a", Ed25519PrivateKey.generate())
    with pytest.raises(auth.AuthError, match="signature"):
        verifier(public).verify(forger.mint(sub="x", role="auditor"))
    with pytest.raises(auth.AuthError, match="unknown key"):
        verifier(public).verify(auth.Issuer("identity-b", forger.key).mint(sub="x", role="auditor"))
    claims = {"iss": "minsheng", "aud": ["dispatch"], "sub": "x", "role": "auditor",
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "j"}
    for alg, key in (("HS256", "secret-of-at-least-thirty-two-bytes!!"), ("none", None)):
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": "identity-a"})
        with pytest.raises(auth.AuthError, match="EdDSA"):
            verifier(public).verify(token)
    other = jwt.encode({**claims, "iss": "elsewhere"}, issuers["identity-a"].key,
                       algorithm="EdDSA", headers={"kid": "identity-a"})
    with pytest.raises(auth.AuthError, match="another issuer"):
        verifier(public).verify(other)
    lacking = {k: v for k, v in claims.items() if k != "jti"}
    token = jwt.encode(lacking, issuers["identity-a"].key, algorithm="EdDSA",
                       headers={"kid": "identity-a"})
    with pytest.raises(auth.AuthError, match="jti"):
        verifier(public).verify(token)
    for garbage in ("", "abc", "a.b.c", "ms2.x.y"):
        with pytest.raises(auth.AuthError):
            verifier(public).verify(garbage)


def test_a_hand_signed_unit_token_without_its_unit_is_refused():
    # a unit's reads are scoped by its code: with none, the workbench's list and export
    # answered the whole city (only the staff key's holder could sign one; still refused)
    issuers, public = keys("identity-a")
    claims = {"iss": "minsheng", "aud": ["dispatch"], "sub": "x", "role": "unit",
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "j"}
    for unit in ({}, {"unit": ""}, {"unit": None}, {"unit": 7}):
        token = jwt.encode({**claims, **unit}, issuers["identity-a"].key, algorithm="EdDSA",
                           headers={"kid": "identity-a"})
        with pytest.raises(auth.AuthError, match="must name its unit"):
            verifier(public).verify(token)
    named = jwt.encode({**claims, "unit": "yingzhou"}, issuers["identity-a"].key,
                       algorithm="EdDSA", headers={"kid": "identity-a"})
    assert verifier(public).verify(named).unit == "yingzhou"


def test_legacy_ms1_tokens_are_refused_with_a_clear_reason():
    _, public = keys("identity-a")
    with pytest.raises(auth.AuthError, match="legacy ms1 token format is no longer accepted"):
        verifier(public).verify("ms1.eyJyb2xlIjoiYXVkaXRvciJ9.c2ln")


def test_the_citizen_key_signs_citizen_tokens_only():
    issuers, public = keys("identity-a", "citizen-a")
    citizen_key = issuers["citizen-a"]
    assert verifier(public).verify(citizen_key.mint(sub="c1", role="citizen")).role == "citizen"
    with pytest.raises(ValueError, match="citizen tokens only"):
        citizen_key.mint(sub="c1", role="dispatcher")
    # a hand-made token that tries it anyway
    now = int(time.time())
    token = jwt.encode({"iss": "minsheng", "aud": ["dispatch"], "sub": "c1", "role": "supervisor",
                        "iat": now, "exp": now + 60, "jti": "j1"}, citizen_key.key,
                       algorithm="EdDSA", headers={"kid": "citizen-a"})
    with pytest.raises(auth.AuthError, match="citizen tokens only"):
        verifier(public).verify(token)


def test_two_keys_are_valid_during_a_rotation():
    issuers, public = keys("identity-2026", "identity-2027")
    v = verifier(public)
    for kid in public:
        assert v.verify(issuers[kid].mint(sub="d", role="dispatcher")).sub == "d"
    retired = verifier({"identity-2027": public["identity-2027"]})
    with pytest.raises(auth.AuthError, match="unknown key"):
        retired.verify(issuers["identity-2026"].mint(sub="d", role="dispatcher"))


def test_expired_and_revoked_tokens_are_refused_even_when_seen_before():
    issuers, public = keys("identity-a")
    issuer = issuers["identity-a"]
    with pytest.raises(auth.AuthError, match="expired"):
        verifier(public).verify(issuer.mint(sub="x", role="auditor", now=0))
    revoked: set[str] = set()
    v = verifier(public, revoked=revoked)
    token = issuer.mint(sub="x", role="auditor", ttl_s=3600)
    who = v.verify(token)
    with pytest.raises(auth.AuthError, match="expired"):
        v.verify(token, now=time.time() + 7200)  # the cached principal still expires
    revoked.add(who.jti)
    assert v.revocations is not None
    v.revocations.refresh()
    with pytest.raises(auth.AuthError, match="revoked"):
        v.verify(token)


def test_the_revocation_list_refreshes_in_the_background_and_keeps_its_copy_on_failure():
    calls: list[int] = []
    now = [0.0]

    def fetch() -> set[str]:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("database away")
        return {"j1"} if len(calls) == 1 else {"j1", "j2"}

    revocations = auth.RevocationList(fetch, refresh_s=5, clock=lambda: now[0])
    revocations.refresh()
    assert revocations.is_revoked("j1") and not revocations.is_revoked("j2")
    assert len(calls) == 1  # fresh: no fetch on the request path
    now[0] = 6
    revocations.refresh()  # fails: the old copy stays
    assert revocations.is_revoked("j1")
    now[0] = 12
    revocations.refresh()
    assert revocations.is_revoked("j2")
    revocations.add("j3")
    assert revocations.is_revoked("j3")


def test_a_ticket_scoped_token_acts_on_its_ticket_only():
    issuers, public = keys("citizen-a")
    token = issuers["citizen-a"].mint(sub="c1", role="citizen", ticket="FY2026-000001")
    who = verifier(public).verify(token)
    assert who.ticket == "FY2026-000001"
    assert who.require_ticket("FY2026-000001") is who
    with pytest.raises(auth.ForbiddenError, match="another ticket"):
        who.require_ticket("FY2026-000002")


def test_development_keys_are_made_once_and_serve_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    jwks = auth.ensure_dev_keys()
    first = (tmp_path / "keys" / "identity-dev.pem").read_bytes(), jwks.read_text()
    assert auth.ensure_dev_keys() == jwks
    assert ((tmp_path / "keys" / "identity-dev.pem").read_bytes(), jwks.read_text()) == first
    assert {k["kid"] for k in json.loads(first[1])["keys"]} == {"identity-dev", "citizen-dev",
                                                                "rating-link-dev"}
    assert oct((tmp_path / "keys" / "identity-dev.pem").stat().st_mode & 0o777) == "0o600"
    settings = ServiceSettings(environment="development", service="audit",
                               token_revocation_check=False)
    token = auth.mint(settings, sub="a", role="auditor")
    assert auth.verify(settings, token).role == "auditor"


def test_production_settings_name_the_missing_keys():
    settings = ServiceSettings.model_construct(environment="production", service="audit",
                                               token_public_keys="", token_signing_key="")
    with pytest.raises(auth.AuthError, match="MINSHENG_TOKEN_PUBLIC_KEYS"):
        auth.verifier_for(settings)
    with pytest.raises(auth.AuthError, match="MINSHENG_TOKEN_SIGNING_KEY"):
        auth.issuer_for(settings)


def test_a_rotated_jwks_file_is_taken_up_without_a_restart(tmp_path):
    old = auth.keygen(tmp_path, "identity-2026")
    new = auth.keygen(tmp_path, "identity-2027")
    jwks = tmp_path / "jwks.json"
    auth.write_jwks(jwks, [old])
    v = auth.Verifier(auth.load_jwks(jwks), audience="sla", jwks_path=jwks, reload_s=0)
    old_token = auth.Issuer.from_pem(old).mint(sub="a", role="auditor")
    new_token = auth.Issuer.from_pem(new).mint(sub="a", role="auditor")
    assert v.verify(old_token).sub == "a"
    with pytest.raises(auth.AuthError, match="unknown key"):
        v.verify(new_token)
    auth.write_jwks(jwks, [old, new])  # rotation, step 2: both keys
    os.utime(jwks, (time.time() + 1, time.time() + 1))  # (mtime granularity)
    assert v.verify(new_token).sub == v.verify(old_token).sub == "a"
    auth.write_jwks(jwks, [new])  # step 4: the old key retired
    os.utime(jwks, (time.time() + 2, time.time() + 2))
    with pytest.raises(auth.AuthError, match="unknown key"):
        v.verify(old_token)  # even though it was seen before
    jwks.write_text("{broken")
    os.utime(jwks, (time.time() + 3, time.time() + 3))
    assert v.verify(new_token).sub == "a"  # a broken file keeps the keys in use


def test_a_service_key_signs_system_tokens_only():
    issuers, public = keys("service-notifier-2027a")
    key = issuers["service-notifier-2027a"]
    assert verifier(public).verify(key.mint(sub="notifier", role="system")).role == "system"
    with pytest.raises(ValueError, match="system tokens only"):
        key.mint(sub="notifier", role="supervisor")
    now = int(time.time())
    token = jwt.encode({"iss": "minsheng", "aud": ["dispatch"], "sub": "n", "role": "auditor",
                        "iat": now, "exp": now + 60, "jti": "j"}, key.key, algorithm="EdDSA",
                       headers={"kid": "service-notifier-2027a"})
    with pytest.raises(auth.AuthError, match="system tokens only"):
        verifier(public).verify(token)
