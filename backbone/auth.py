"""One way to authenticate, for every HTTP and gRPC API: signed JWTs (RFC 7519, EdDSA).

One issuer signs staff tokens with a private Ed25519 key (the identity service;
MINSHENG_TOKEN_SIGNING_KEY = a PEM file whose name, less ``.pem``, is the key id). Intake signs
citizen tokens with a key of its own whose kid starts with ``citizen-``; a verifier accepts
such a kid for role ``citizen`` only. Every service verifies with PUBLIC keys only (a JWKS file,
MINSHENG_TOKEN_PUBLIC_KEYS), two or more of them during a rotation.

Claims: iss ("minsheng"), aud (the services the token is for; each service checks its own
name), sub, role, unit, iat, exp, jti, and ``tkt`` (the one ticket a citizen or rating-link
token is scoped to; "" = not scoped). A revoked jti (logout) is refused: the identity service
keeps the list in PostgreSQL, verifiers hold a copy refreshed every few seconds in the
background, so the request path never waits for the database.

No token or a bad one: 401 / UNAUTHENTICATED. A valid token with the wrong role: 403 /
PERMISSION_DENIED. The old ``ms1.`` HMAC tokens: 401, "legacy ms1 token format is no longer
accepted".

    python -m backbone.auth dev-keys                     # development keys under .data/keys
    python -m backbone.auth keygen --kid identity-2027a --out /etc/minsheng/keys
    python -m backbone.auth mint --role unit --unit yingzhou --sub yingzhou-oa
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

ROLES = ("channel_adapter", "unit", "dispatcher", "supervisor", "auditor", "observer",
         "deputy", "citizen", "system")
ISSUER = "minsheng"
# Every service that verifies tokens; a token minted without an audience is for all of them.
SERVICES = ("intake", "dispatch", "sla", "feedback", "analytics", "audit", "identity",
            "workbench", "notifier")
CITIZEN_KID_PREFIX = "citizen-"
# A service that calls others on its own behalf (the notifier, say) may hold a key of its own
# whose kid starts so; verifiers accept such a kid for role "system" only.
SERVICE_KID_PREFIX = "service-"
# Feedback's rating links: a key of feedback's own, whose tokens verifiers accept only as a
# rating link (role citizen, scoped to one ticket with `tkt`) through `Verifier.verify_link`;
# as a bearer token for any other operation they are refused.
RATING_LINK_KID_PREFIX = "rating-link-"
DEV_KID_SUFFIX = "-dev"  # development keys' ids end so; production refuses them
STAFF_TTL_S = 8 * 3600
LEGACY_MESSAGE = "legacy ms1 token format is no longer accepted"
ROOT = Path(__file__).resolve().parents[1]


class AuthError(Exception):
    """The token is missing, malformed, forged, expired or revoked (401)."""


class ForbiddenError(Exception):
    """The token is valid but its role or unit may not do this (403)."""


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    unit: str = ""
    ticket: str = ""  # the ticket a citizen / rating-link token is scoped to ("" = none)
    jti: str = field(default="", compare=False)
    expires_at: float = field(default=0.0, compare=False)

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise ForbiddenError(f"role {self.role!r} may not do this; needs one of {list(roles)}")
        return self

    def require_ticket(self, code: str) -> Principal:
        """A ticket-scoped token may act on its own ticket only."""
        if self.ticket and self.ticket != code:
            raise ForbiddenError("this token is scoped to another ticket")
        return self


# --- keys -----------------------------------------------------------------------------------

def data_dir() -> Path:
    return Path(os.environ.get("MINSHENG_DATA", ROOT / ".data"))


def dev_keys_dir() -> Path:
    return data_dir() / "keys"


def kid_of(path: str | Path) -> str:
    """A signing key's id is its file name without ``.pem``."""
    name = Path(path).name
    return name[:-4] if name.endswith(".pem") else name


def is_dev_kid(kid: str) -> bool:
    return kid.endswith(DEV_KID_SUFFIX)


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_jwks(path: str | Path) -> dict[str, Ed25519PublicKey]:
    """kid -> public key, from a JWKS file ({"keys": [...]})."""
    document = json.loads(Path(path).read_text())
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
            continue
        key = jwt.PyJWK(jwk, algorithm="EdDSA").key
        if isinstance(key, Ed25519PublicKey):
            keys[jwk["kid"]] = key
    if not keys:
        raise ValueError(f"{path} holds no Ed25519 key with a kid")
    return keys


def _write_once(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` unless it exists; safe when processes race (link is atomic)."""
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def keygen(directory: Path, kid: str) -> Path:
    """A new Ed25519 key `<directory>/<kid>.pem` (kept if it exists); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kid}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    _write_once(path, pem)
    return path


def write_jwks(path: Path, private_keys: Iterable[Path], extra_public: Iterable[Path] = ()
               ) -> None:
    """The JWKS of the given private keys (and public JWKS files to merge), atomically."""
    keys = [public_jwk(kid_of(p), load_private_key(p).public_key()) for p in private_keys]
    for other in extra_public:
        keys.extend(public_jwk(k, v) for k, v in load_jwks(other).items())
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps({"keys": keys}, indent=1))
    os.replace(tmp, path)


def ensure_dev_keys(directory: Path | None = None) -> Path:
    """Development keys (identity-dev, citizen-dev, rating-link-dev) and their JWKS;
    idempotent."""
    directory = directory or dev_keys_dir()
    pems = [keygen(directory, "identity" + DEV_KID_SUFFIX),
            keygen(directory, "citizen" + DEV_KID_SUFFIX),
            keygen(directory, "rating-link" + DEV_KID_SUFFIX)]
    jwks = directory / "jwks.json"
    if not jwks.exists() or set(_kids_in(jwks)) != {kid_of(p) for p in pems}:
        write_jwks(jwks, pems)
    return jwks


def _kids_in(path: Path) -> list[str]:
    try:
        return [k.get("kid", "") for k in json.loads(path.read_text()).get("keys", [])]
    except (OSError, ValueError):
        return []


# --- minting ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Issuer:
    """Holds one private key and signs tokens with it."""

    kid: str
    key: Ed25519PrivateKey
    default_ttl_s: int = STAFF_TTL_S

    @classmethod
    def from_pem(cls, path: str | Path, *, default_ttl_s: int = STAFF_TTL_S) -> Issuer:
        return cls(kid=kid_of(path), key=load_private_key(path), default_ttl_s=default_ttl_s)

    def mint(self, *, sub: str, role: str, unit: str = "", ttl_s: int | None = None,
             ticket: str = "", audience: Iterable[str] | None = None,
             now: float | None = None, jti: str | None = None,
             extra: dict[str, Any] | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if role == "unit" and not unit:
            raise ValueError("a unit token must name its unit")
        if self.kid.startswith(CITIZEN_KID_PREFIX) and role != "citizen":
            raise ValueError("a citizen key signs citizen tokens only")
        if self.kid.startswith(SERVICE_KID_PREFIX) and role != "system":
            raise ValueError("a service key signs system tokens only")
        if self.kid.startswith(RATING_LINK_KID_PREFIX) and (role != "citizen" or not ticket):
            raise ValueError("a rating-link key signs citizen tokens scoped to a ticket only")
        issued = int(now if now is not None else time.time())
        claims = {"iss": ISSUER, "aud": list(audience or SERVICES), "sub": sub, "role": role,
                  "unit": unit, "iat": issued,
                  "exp": issued + (ttl_s if ttl_s is not None else self.default_ttl_s),
                  "jti": jti or uuid.uuid4().hex, "tkt": ticket, **(extra or {})}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


def issuer_for(settings: Any) -> Issuer:
    """The issuer a settings object names (the development key in development)."""
    cache = _cache_of(settings)
    if "issuer" not in cache:
        path = getattr(settings, "token_signing_key", "")
        if not path:
            if not _in_development(settings):
                raise AuthError("MINSHENG_TOKEN_SIGNING_KEY is not set")
            ensure_dev_keys()
            path = dev_keys_dir() / f"identity{DEV_KID_SUFFIX}.pem"
        cache["issuer"] = Issuer.from_pem(path, default_ttl_s=getattr(settings, "token_ttl_s",
                                                                      STAFF_TTL_S))
    issuer: Issuer = cache["issuer"]
    return issuer


def mint(issuer_or_settings: Any, *, sub: str, role: str, unit: str = "",
         ttl_s: int | None = None, ticket: str = "", audience: Iterable[str] | None = None,
         now: float | None = None) -> str:
    issuer = (issuer_or_settings if isinstance(issuer_or_settings, Issuer)
              else issuer_for(issuer_or_settings))
    return issuer.mint(sub=sub, role=role, unit=unit, ttl_s=ttl_s, ticket=ticket,
                       audience=audience, now=now)


# --- revocation -------------------------------------------------------------------------------

class RevocationList:
    """The revoked jtis, refreshed in the background at most every `refresh_s` seconds.

    `is_revoked` is a set lookup: when the copy is stale it starts one refresh thread and
    answers from the copy it has. A failed refresh keeps the old copy (logged)."""

    def __init__(self, fetch: Callable[[], set[str]], refresh_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self.refresh_s = refresh_s
        self._clock = clock
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._refreshing = threading.Lock()

    def is_revoked(self, jti: str) -> bool:
        if self._clock() - self._loaded_at > self.refresh_s and not self._refreshing.locked():
            threading.Thread(target=self.refresh, name="revocations", daemon=True).start()
        return jti in self._revoked

    def refresh(self) -> None:
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            self._revoked = frozenset(self._fetch())
        except Exception as exc:  # keep serving the copy we have
            log.warning("revocation list not refreshed: %s: %s", type(exc).__name__, exc)
        finally:
            self._loaded_at = self._clock()
            self._refreshing.release()

    def add(self, jti: str) -> None:
        """This process revoked it: no need to wait for the next refresh."""
        self._revoked = self._revoked | {jti}


class PgRevocations:
    """Reads the identity service's revocation table. A connection per refresh (every few
    seconds at most, and only while tokens are being checked): no idle connection is held
    for it, however many verifiers a process makes."""

    def __init__(self, conninfo: str, schema: str = "identity"):
        self.conninfo = conninfo
        self.schema = schema

    def __call__(self) -> set[str]:
        import psycopg
        from psycopg import sql

        query = sql.SQL("SELECT jti FROM {}.revoked_tokens WHERE expires_at > now()").format(
            sql.Identifier(self.schema))
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=3) as conn:
            try:
                return {row[0] for row in conn.execute(query)}
            except psycopg.errors.UndefinedTable:
                return set()  # no identity service has run against this database yet


# --- verifying --------------------------------------------------------------------------------

class Verifier:
    """Checks tokens for one service (its name must be in the token's audience)."""

    _CACHE_MAX = 20_000

    def __init__(self, keys: dict[str, Ed25519PublicKey], *, audience: str,
                 revocations: RevocationList | None = None, leeway_s: float = 30.0,
                 jwks_path: Path | None = None, reload_s: float = 5.0):
        self.keys = keys
        self.audience = audience
        self.revocations = revocations
        self.leeway_s = leeway_s
        # token -> Principal: a repeated token skips the signature check (exp, revocation
        # are still checked on every call)
        self._seen: dict[str, Principal] = {}
        # A rotation replaces the JWKS file: its keys are taken up within `reload_s`, without
        # a restart (one stat() every few seconds on the request path).
        self._jwks_path = jwks_path
        self._reload_s = reload_s
        self._jwks_checked = time.monotonic()
        self._jwks_mtime = self._mtime()

    def _mtime(self) -> float:
        try:
            return self._jwks_path.stat().st_mtime if self._jwks_path else 0.0
        except OSError:
            return 0.0

    def _reload_keys_if_changed(self) -> None:
        self._jwks_checked = time.monotonic()
        mtime = self._mtime()
        if mtime == self._jwks_mtime or self._jwks_path is None:
            return
        try:
            keys = load_jwks(self._jwks_path)
        except (OSError, ValueError) as exc:  # half-written or broken: keep the keys we have
            log.warning("token keys not reloaded from %s: %s", self._jwks_path, exc)
            return
        self._jwks_mtime = mtime
        self.keys = keys
        self._seen = {}  # a key taken out must stop working at once
        log.info("token keys reloaded: %s", sorted(keys))

    def verify(self, token: str, now: float | None = None) -> Principal:
        token = token.strip()
        if self._jwks_path is not None and time.monotonic() - self._jwks_checked > self._reload_s:
            self._reload_keys_if_changed()
        principal = self._seen.get(token)
        if principal is None:
            principal = self._check(token)
            if len(self._seen) >= self._CACHE_MAX:
                self._seen.clear()
            self._seen[token] = principal
        if principal.expires_at < (now if now is not None else time.time()) - self.leeway_s:
            raise AuthError("token expired")
        if self.revocations is not None and self.revocations.is_revoked(principal.jti):
            raise AuthError("token revoked (logged out)")
        return principal

    def verify_link(self, token: str) -> dict[str, Any]:
        """The claims of a rating-link token (signed with a `rating-link-` key, role citizen,
        scoped to a ticket); its expiry is the caller's to judge (on its own clock). Any other
        token: AuthError."""
        if self._jwks_path is not None and time.monotonic() - self._jwks_checked > self._reload_s:
            self._reload_keys_if_changed()
        kid, claims = self._decode(token.strip())
        if not kid.startswith(RATING_LINK_KID_PREFIX):
            raise AuthError("not a rating-link token")
        return claims

    def _check(self, token: str) -> Principal:
        kid, claims = self._decode(token)
        if kid.startswith(RATING_LINK_KID_PREFIX):
            raise AuthError("a rating-link token is good for its rating link only")
        try:
            expires_at = float(claims["exp"])
        except (TypeError, ValueError):
            raise AuthError("malformed token") from None
        return Principal(sub=str(claims["sub"]), role=claims["role"],
                         unit=str(claims.get("unit") or ""),
                         ticket=str(claims.get("tkt") or ""), jti=str(claims["jti"]),
                         expires_at=expires_at)

    def _decode(self, token: str) -> tuple[str, dict[str, Any]]:
        """(kid, claims) of a token whose signature, issuer, audience and key rules hold."""
        if token.startswith("ms1."):
            raise AuthError(LEGACY_MESSAGE)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("malformed token") from None
        kid = header.get("kid")
        if header.get("alg") != "EdDSA":
            raise AuthError("token must be signed with EdDSA")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(kid, str):
            raise AuthError("token signed with an unknown key (kid)")
        try:
            claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=self.audience,
                                issuer=ISSUER, options={
                                    "verify_exp": False,  # checked on every use, see verify
                                    "require": ["iss", "aud", "sub", "iat", "exp", "jti"]})
        except jwt.InvalidAudienceError:
            raise AuthError(f"token is not for this service ({self.audience})") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise AuthError("bad token signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError("token names no known role")
        if role == "unit" and not (isinstance(claims.get("unit"), str) and claims["unit"]):
            # a unit's reads are scoped by its code: without one, "its" tickets would be the
            # whole city's (identity refuses such accounts; a hand-signed token must fail too)
            raise AuthError("a unit token must name its unit")
        if kid.startswith(CITIZEN_KID_PREFIX) and role != "citizen":
            raise AuthError("a citizen key may sign citizen tokens only")
        if kid.startswith(SERVICE_KID_PREFIX) and role != "system":
            raise AuthError("a service key may sign system tokens only")
        if kid.startswith(RATING_LINK_KID_PREFIX) and (role != "citizen" or not claims.get("tkt")):
            raise AuthError("a rating-link key may sign ticket-scoped citizen tokens only")
        return kid, claims


def _in_development(settings: Any) -> bool:
    return getattr(settings, "environment", "production") in ("development", "test")


def _cache_of(settings: Any) -> dict[str, Any]:
    cache = getattr(settings, "_auth_cache", None)
    if cache is None:  # a settings-like object without the private cache: one per object
        cache = _OTHER_CACHES.setdefault(id(settings), {})
    return cache


_OTHER_CACHES: dict[int, dict[str, Any]] = {}


def public_keys_path(settings: Any) -> Path:
    path = getattr(settings, "token_public_keys", "")
    if path:
        return Path(path)
    if not _in_development(settings):
        raise AuthError("MINSHENG_TOKEN_PUBLIC_KEYS is not set")
    return ensure_dev_keys()


def verifier_for(settings: Any) -> Verifier:
    """The verifier of the service the settings describe (built once per settings object)."""
    cache = _cache_of(settings)
    if "verifier" not in cache:
        revocations = None
        if getattr(settings, "token_revocation_check", True) and hasattr(settings, "pg_conninfo"):
            revocations = RevocationList(
                PgRevocations(settings.pg_conninfo(),
                              getattr(settings, "token_revocation_schema", "identity")),
                refresh_s=getattr(settings, "token_revocation_refresh_s", 5.0))
        path = public_keys_path(settings)
        cache["verifier"] = Verifier(load_jwks(path), audience=settings.service,
                                     revocations=revocations, jwks_path=path)
    verifier: Verifier = cache["verifier"]
    return verifier


def verify(verifier_or_settings: Any, token: str, now: float | None = None) -> Principal:
    verifier = (verifier_or_settings if isinstance(verifier_or_settings, Verifier)
                else verifier_for(verifier_or_settings))
    return verifier.verify(token, now=now)


def bearer(header_value: str | None) -> str:
    if not header_value:
        raise AuthError("missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token


def main() -> None:
    from backbone.settings import ServiceSettings

    parser = argparse.ArgumentParser(description="Minsheng token keys and tokens")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mint", help="mint a token with MINSHENG_TOKEN_SIGNING_KEY (or the "
                                    "development key)")
    m.add_argument("--role", required=True, choices=ROLES)
    m.add_argument("--unit", default="")
    m.add_argument("--sub", default="")
    m.add_argument("--ticket", default="")
    m.add_argument("--ttl-hours", type=float, default=STAFF_TTL_S / 3600)
    d = sub.add_parser("dev-keys", help="create the development keys under .data/keys")
    d.add_argument("--dir", default="")
    k = sub.add_parser("keygen", help="a new signing key <out>/<kid>.pem")
    k.add_argument("--kid", required=True)
    k.add_argument("--out", required=True)
    j = sub.add_parser("jwks", help="write a JWKS file of the public halves of PEM keys "
                                    "(give the old and the new key during a rotation)")
    j.add_argument("--out", required=True)
    j.add_argument("pems", nargs="+")
    args = parser.parse_args()
    if args.cmd == "dev-keys":
        print(ensure_dev_keys(Path(args.dir) if args.dir else None))
    elif args.cmd == "keygen":
        if is_dev_kid(args.kid):
            raise SystemExit(f"a kid ending in {DEV_KID_SUFFIX!r} marks a development key")
        print(keygen(Path(args.out), args.kid))
    elif args.cmd == "jwks":
        write_jwks(Path(args.out), [Path(p) for p in args.pems])
        print(args.out)
    else:
        settings = ServiceSettings()
        print(mint(settings, sub=args.sub or args.unit or args.role, role=args.role,
                   unit=args.unit, ticket=args.ticket, ttl_s=int(args.ttl_hours * 3600)))


if __name__ == "__main__":
    main()
