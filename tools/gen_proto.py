"""Generate the Python code for proto/ with grpcio-tools (`make proto`).

`--check` regenerates into a temporary folder and exits 1 if the committed code differs,
so a test can tell that someone edited a .proto and forgot `make proto`.
"""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
OUT = ROOT / "proto"


def generate(out: Path) -> None:
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "minsheng").rglob("*.proto"))
    args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generated_files(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*_pb2*.py*")}


def main() -> int:
    if "--check" not in sys.argv:
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh, committed = generated_files(Path(tmp)), generated_files(OUT)
        stale = sorted(fresh ^ committed)
        stale += [f for f in sorted(fresh & committed)
                  if not filecmp.cmp(Path(tmp) / f, OUT / f, shallow=False)]
        if stale:
            print("generated code is stale, run `make proto`:", *stale, sep="\n  ")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
