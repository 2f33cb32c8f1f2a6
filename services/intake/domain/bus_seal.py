"""Personal data on `intake.requests` sealed for intake alone: HPKE (RFC 9180).

A bus adapter puts a request's personal fields (contact, address, text, title, fields,
attributes) in an `IntakeRequest` of their own, serialises it, and seals it to intake's public
key: HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, with
``info = "minsheng/intake.requests/v1\\x00" + request_id`` (so a sealed part cannot be moved to
another request). The message carries the result in `sealed` and the key's id in `sealed_for`.
Only intake holds the private key; the topic, its replicas, its backups and anyone allowed to
read it see ciphertext. Libraries for HPKE exist for Go, Java, JavaScript and Rust; this module
is the Python one (`seal_for_intake`).

Keys: an X25519 private key per PEM file, its id the file name without `.pem`; several may be
loaded so a rotated-out key still opens messages sealed just before the rotation. The public
half is served at `GET /v1/bus-key` and printed by `python -m services.intake.domain.bus_seal`.
"""

from __future__ import annotations

import argparse
import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from backbone.privacy import echo

SUITE_NAME = "HPKE base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"
_INFO = b"minsheng/intake.requests/v1\x00"
DEV_KID = "intake-bus-dev"

# What may not travel in clear on the bus (IntakeRequest field names).
PERSONAL_FIELDS = ("contact", "address", "text", "title", "fields", "attributes")


def _suite() -> Suite:
    return Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)


class BusSealError(Exception):
    """A request that intake refuses to read: ``code`` and ``reason`` go on the reply."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def seal_for_intake(public_key: bytes, plaintext: bytes, request_id: str) -> bytes:
    """What a bus adapter does: seal ``plaintext`` (a serialised IntakeRequest holding the
    personal fields) for the holder of ``public_key`` (32 raw X25519 bytes)."""
    key = x25519.X25519PublicKey.from_public_bytes(public_key)
    return _suite().encrypt(plaintext, key, info=_INFO + request_id.encode())


@dataclass(frozen=True)
class BusKey:
    kid: str
    private: x25519.X25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)

    def describe(self) -> dict[str, str]:
        return {"kid": self.kid, "x25519_public_key": base64.b64encode(self.public_raw).decode(),
                "suite": SUITE_NAME, "info": "minsheng/intake.requests/v1\\x00 + request_id"}


class BusKeyring:
    """Intake's private keys for the bus; the first is the one adapters are told to use."""

    def __init__(self, keys: list[BusKey]):
        if not keys:
            raise ValueError("intake needs at least one bus key (MINSHENG_INTAKE_BUS_KEYS)")
        self.keys = {k.kid: k for k in keys}
        self.current = keys[0]

    def open(self, sealed: bytes, kid: str, request_id: str) -> bytes:
        key = self.keys.get(kid or self.current.kid)
        if key is None:
            raise BusSealError("unknown_bus_key", f"sealed for key {echo(kid)}, which intake "
                               f"does not hold; seal for {self.current.kid!r} (GET /v1/bus-key)")
        try:
            return _suite().decrypt(sealed, key.private, info=_INFO + request_id.encode())
        except Exception as exc:  # InvalidTag or a malformed encapsulation: the same answer
            raise BusSealError("unreadable_sealed_part",
                               "the sealed part does not open with intake's key for this "
                               "request id (wrong key, altered bytes or another request's "
                               "part)") from exc


def load_key(path: str | Path) -> BusKey:
    p = Path(path)
    private = serialization.load_pem_private_key(p.read_bytes(), password=None)
    if not isinstance(private, x25519.X25519PrivateKey):
        raise ValueError(f"{p} is not an X25519 private key")
    return BusKey(p.name.removesuffix(".pem"), private)


def write_key(directory: Path, kid: str) -> Path:
    """A new X25519 private key as PKCS#8 PEM, mode 0600; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kid}.pem"
    pem = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    tmp = directory / f".{kid}.{os.getpid()}.tmp"
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # first writer wins when processes race
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path


def keyring_from(paths: str, dev_dir: Path | None) -> BusKeyring:
    """Comma-separated PEM paths, the current key first; none given and ``dev_dir``: the
    development key there (made on first use)."""
    named = [p.strip() for p in paths.split(",") if p.strip()]
    if not named and dev_dir is not None:
        named = [str(dev_dir / f"{DEV_KID}.pem")]
        if not Path(named[0]).exists():
            write_key(dev_dir, DEV_KID)
    return BusKeyring([load_key(p) for p in named])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.intake.domain.bus_seal",
                                     description="intake's bus keys (HPKE X25519)")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("keygen", help="make a private key for intake")
    gen.add_argument("--kid", required=True)
    gen.add_argument("--out", required=True)
    show = sub.add_parser("public", help="print a key's public half for the adapters")
    show.add_argument("pem")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        print(write_key(Path(args.out), args.kid))
    else:
        print(load_key(args.pem).describe())


if __name__ == "__main__":
    main()
