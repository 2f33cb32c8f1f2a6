"""The checkpoint signing key: from the environment, or a file generated on first start."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from services.audit.domain.checkpoint import CheckpointSigner


def load_or_create_signer(*, name: str, pem: str, path: Path) -> CheckpointSigner:
    """The signer named ``name``: PEM text if given, else the key file (created if missing).

    Creation is atomic (O_EXCL on a temporary file, then a hard link): two replicas starting
    at once end up with the same key, never with two."""
    if pem:
        return CheckpointSigner.from_pem(name, pem)
    if path.exists():
        return CheckpointSigner.from_pem(name, path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = CheckpointSigner.generate(name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.private_pem())
    try:
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, path)
    finally:
        tmp.unlink()
    return CheckpointSigner.from_pem(name, path.read_bytes())
