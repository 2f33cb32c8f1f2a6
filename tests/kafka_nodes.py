"""What a local cluster's Kafka nodes logged, for a failed test's message: their data folder
(deploy/local/infra.py's `kafka/cluster/node-N/`) is deleted afterwards, so a node that exited
leaves nothing else to read."""

from __future__ import annotations

from pathlib import Path


def node_logs(data: Path, lines: int = 25) -> str:
    """Each node's server.log and stdout.log under ``data``: its ERROR and FATAL lines (the
    last ten), then its last ``lines`` lines."""
    out = []
    for path in sorted(data.glob("kafka/cluster/node-*/*.log")):
        if path.name not in ("server.log", "stdout.log"):
            continue
        text = path.read_text(errors="replace").splitlines()
        errors = [line for line in text if " ERROR " in line or " FATAL " in line][-10:]
        out.append(f"--- {path.relative_to(data)} (errors, then the last {lines} lines) ---")
        out += [*errors, "...", *text[-lines:]]
    return "\n".join(out)
