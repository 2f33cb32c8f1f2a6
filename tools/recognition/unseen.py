"""The shipped model measured on parts written after it was chosen (session 15): the eighth
and ninth parts, each written blind by a new hand while the model was already fixed, and the
seventh (the part its choice was judged on) beside them. A measurement, not a choice:
nothing is chosen, trained or re-thresholded from it (docs/recognition.md, "Session 15: the
shipped model on two more blind parts").

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.unseen read [--json OUT]

The model is scored as dispatch scores it (`retrained.scored`), on each part alone and pooled
(each request its own matter), with 2,000 resamplings (`pooled.draws_of`, seed `SEED`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from services.dispatch.domain.labelled import LabelledRequest
from tools.recognition.train import MODEL_PATH

SHIPPED_SHA256 = "aa2cbfc1a37bd3c4a35d2521228d394c0e4b249da96d9ba01fe48634669c3e60"
SEED = 20261208
DRAWS = 2000
NEW_PARTS = ("eighth", "ninth")


def parts() -> dict[str, list[LabelledRequest]]:
    """Each part written after the shipped model's training set was fixed, by name."""
    from tools.recognition.eighth import eighth_requests
    from tools.recognition.ninth import ninth_requests
    from tools.recognition.seventh import seventh_requests

    return {"seventh": seventh_requests(), "eighth": eighth_requests(),
            "ninth": ninth_requests()}


def digests() -> dict[str, str]:
    from tools.recognition import eighth, ninth, seventh

    return {"seventh": seventh.digest(), "eighth": eighth.digest(), "ninth": ninth.digest()}


def slices(sizes: dict[str, int]) -> dict[str, slice]:
    """Each part's rows in the requests laid end to end, and the pooled views: the new parts
    together, and all three."""
    rows: dict[str, slice] = {}
    start = 0
    for name, n in sizes.items():
        rows[name] = slice(start, start + n)
        start += n
    first_new = rows[NEW_PARTS[0]].start
    rows["+".join(NEW_PARTS)] = slice(first_new, start)
    rows["+".join(sizes)] = slice(0, start)
    return rows


def read(shipped: Path = MODEL_PATH, draws: int = DRAWS) -> dict[str, Any]:
    """The measurement: the shipped model on each part and pooled."""
    from tools.recognition.pooled import draws_of
    from tools.recognition.retrained import misses, model_row, scored

    sha = hashlib.sha256(shipped.read_bytes()).hexdigest()
    if sha != SHIPPED_SHA256:
        raise SystemExit(f"{shipped} is not the model this measurement fixes ({SHIPPED_SHA256})")
    before = digests()
    by_part = parts()
    requests = [r for part in by_part.values() for r in part]
    cases = [r.case for r in requests]
    rows = slices({name: len(part) for name, part in by_part.items()})
    weights = {name: draws_of(cases[s], draws, SEED) for name, s in rows.items()}
    m = scored(shipped, requests)
    row = {**model_row(m, rows, weights), **misses(requests, m)}
    return {"draws": draws, "seed": SEED, "digests": before, "models": {"shipped": row},
            "paired": {}, "parts": list(rows), "digests_after": digests()}


def render(found: dict[str, Any]) -> str:
    from tools.recognition.retrained import figure_lines

    lines = figure_lines(found, tuple(found["parts"]))
    row = found["models"]["shipped"]
    lines += ["", "routed wrongly:"]
    lines += [f"  {w['case']} ({w['label']}) -> {w['predicted']} ({w['confidence']}): {w['text']}"
              for w in row["wrong"]]
    lines += ["", f"to a dispatcher: {len(row['to_dispatcher'])} "
              f"({sum(d['right_unit'] for d in row['to_dispatcher'])} with the right unit first)",
              f"sha256: {row['sha256']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    reading = sub.add_parser("read", help="the shipped model on the parts written after it")
    reading.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    found = read()
    if args.json:
        args.json.write_text(json.dumps(found, ensure_ascii=False, indent=1))
    print(render(found))


if __name__ == "__main__":
    main()
