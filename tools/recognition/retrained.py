"""Session 14: a candidate retrained on the first three held-out parts, read once on the fourth
and fifth parts pooled against the shipped model, by the rule committed before the read
(docs/recognition.md, "Session 14: retrained on the first three held-out parts").

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition train --with-held-out --out /tmp/candidate.json
    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.retrained read /tmp/candidate.json \
        [--shipped services/dispatch/data/recognition_model.json] [--json PATH]

Both models are scored by the service's own code (`LinearClassifier` with the gazetteer's place
blanking and the 权责清单 at the weight and rules in each model's file, routing v2's unit
confidence with `"second_matter": "dispatcher"`, each model at the threshold in its own file).
"To a dispatcher" = unit confidence below the threshold; "right" = the routing table sends the
predicted subcategory to the label's unit. The fourth and fifth parts pooled (672, every request
its own matter) are resampled 2,000 times (seed 20261206, `pooled.draws_of`), the same draws for
both models, so the differences are paired; the fifth part alone is resampled the way `fifth read`
resamples it. Nothing is trained or chosen here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from services.dispatch.domain.labelled import LabelledRequest
from tools.recognition.train import MODEL_PATH

TARGET = 0.95


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scored(path: Path, requests: list[LabelledRequest]) -> dict[str, Any]:
    """One model file as dispatch scores it, on `requests`: routed automatically, right unit."""
    from dataclasses import replace

    from services.dispatch.domain.linear import LinearClassifier, LinearModel
    from services.dispatch.domain.places import load_gazetteer
    from services.dispatch.domain.responsibilities import load_responsibilities
    from services.dispatch.domain.routing import load_routing_table, unit_confidence
    from services.dispatch.domain.taxonomy import load_taxonomy
    from tools.recognition.train import route_key

    model = LinearModel.from_dict(json.loads(path.read_text("utf-8")))
    clf = LinearClassifier(load_taxonomy(), model, blank_places=load_gazetteer().without_places,
                           duties=load_responsibilities())
    table = load_routing_table(2)
    lead = replace(table, second_matter="lead")
    key = route_key()
    results = [clf.classify(r.text, address=r.address) for r in requests]
    sure = np.array([unit_confidence(c, table) for c in results])
    return {"threshold": clf.threshold, "sha256": sha256_of(path),
            "auto": sure >= clf.threshold,
            "lead": np.array([unit_confidence(c, lead) for c in results]) >= clf.threshold,
            "right": np.array([key[c.subcategory] == key[r.subcategory]
                               for c, r in zip(results, requests, strict=True)]),
            "results": results, "sure": sure}


def paired(w: np.ndarray, base: dict[str, Any], mine: dict[str, Any],
           rows: slice) -> dict[str, Any]:
    """The paired differences (candidate - shipped) over the same draws `w` of `rows`."""
    from tools.recognition.pooled import shares

    a0, r0 = shares(w, base["auto"][rows], base["right"][rows])
    a1, r1 = shares(w, mine["auto"][rows], mine["right"][rows])
    more, righter = a1 - a0, r1 - r0
    auto0, right0 = base["auto"][rows], base["right"][rows]
    auto1, right1 = mine["auto"][rows], mine["right"][rows]
    return {"more_routed": float(auto1.mean() - auto0.mean()),
            "more_lo": float(np.quantile(more, 0.025)), "more_hi": float(np.quantile(more, 0.975)),
            "right_diff": float(right1[auto1].mean() - right0[auto0].mean()),
            "right_diff_lo": float(np.quantile(righter, 0.025)),
            "right_diff_hi": float(np.quantile(righter, 0.975))}


def decide(out: dict[str, Any]) -> dict[str, Any]:
    """The rule: (1) the candidate's right share of what it routes >= 95.0 % on the pooled 672
    and on the fifth part alone (point figures); (2) the paired 95 % interval of (its routed
    share - the shipped model's), pooled, lies above 0; (3) the paired 95 % interval of (its
    right share - the shipped model's), pooled, reaches 0 or above."""
    cand = out["models"]["candidate"]
    d = out["paired"]["fourth+fifth"]
    checks = {
        "1_right_pooled_and_fifth": cand["fourth+fifth"]["auto_right"] >= TARGET
        and cand["fifth"]["auto_right"] >= TARGET,
        "2_routes_more": d["more_lo"] > 0,
        "3_not_clearly_less_right": d["right_diff_hi"] >= 0,
    }
    return {"checks": checks, "replace": all(checks.values())}


def changes(base: dict[str, Any], mine: dict[str, Any]) -> dict[str, int]:
    """What changed request by request from one scored model to another: routed by one and
    not the other, right or not."""
    a0, a1 = base["auto"], mine["auto"]
    g0, g1 = base["right"], mine["right"]
    return {"now_routed": int((a1 & ~a0).sum()),
            "now_routed_right": int((a1 & ~a0 & g1).sum()),
            "now_to_dispatcher": int((a0 & ~a1).sum()),
            "now_to_dispatcher_were_right": int((a0 & ~a1 & g0).sum()),
            "routed_by_both_right_changed": int((a0 & a1 & (g0 != g1)).sum())}


def misses(requests: list[LabelledRequest], m: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The requests a scored model routes wrongly (with their texts) and those it leaves to a
    dispatcher (whether its first unit was the right one)."""
    rows = list(zip(requests, m["results"], m["sure"], m["auto"], m["right"], strict=True))
    return {"wrong": [{"case": r.case, "label": r.subcategory, "predicted": c.subcategory,
                       "confidence": round(float(x), 3), "text": r.text}
                      for r, c, x, a, g in rows if a and not g],
            "to_dispatcher": [{"case": r.case, "predicted": c.subcategory,
                               "confidence": round(float(x), 3), "right_unit": bool(g)}
                              for r, c, x, a, g in rows if not a]}


def model_row(m: dict[str, Any], rows: dict[str, slice],
              weights: dict[str, Any]) -> dict[str, Any]:
    """One scored model's figures on each part (`rows`: part -> its slice of the requests,
    `weights`: part -> its resampling draws), with "lead" beside and the aim's verdict."""
    from tools.recognition.fourth import verdict
    from tools.recognition.pooled import figures

    row: dict[str, Any] = {"threshold": m["threshold"], "sha256": m["sha256"]}
    for part, s in rows.items():
        f: dict[str, Any] = dict(figures(weights[part], m["auto"][s], m["right"][s]))
        f["lead"] = figures(weights[part], m["lead"][s], m["right"][s])
        f["verdict"] = verdict(f)
        row[part] = f
    return row


def read(candidate: Path, shipped: Path = MODEL_PATH, draws: int = 2000) -> dict[str, Any]:
    from tools.recognition import fifth, fourth
    from tools.recognition.pooled import SEED, draws_of

    digests = {"fourth": fourth.digest(), "fifth": fifth.digest()}
    four, five = fourth.fourth_requests(), fifth.fifth_requests()
    requests = four + five
    cases = [r.case for r in requests]
    rows = {"fourth+fifth": slice(None), "fifth": slice(len(four), None),
            "fourth": slice(0, len(four))}
    weights = {name: draws_of(cases[s], draws) for name, s in rows.items()}
    models = {"shipped": scored(shipped, requests), "candidate": scored(candidate, requests)}
    out: dict[str, Any] = {"draws": draws, "seed": SEED, "digests": digests, "models": {},
                           "paired": {}}
    for name, m in models.items():
        row = model_row(m, rows, weights)
        row["wrong"] = [{"case": r.case, "label": r.subcategory, "predicted": c.subcategory,
                         "confidence": round(float(x), 3)}
                        for r, c, x, a, g in zip(requests, m["results"], m["sure"], m["auto"],
                                                 m["right"], strict=True) if a and not g]
        out["models"][name] = row
    for part, s in rows.items():
        out["paired"][part] = paired(weights[part], models["shipped"], models["candidate"], s)
    # what changed request by request (pooled)
    out["changes"] = changes(models["shipped"], models["candidate"])
    out["decision"] = decide(out)
    out["digests_after"] = {"fourth": fourth.digest(), "fifth": fifth.digest()}
    return out


def figure_lines(found: dict[str, Any], parts: tuple[str, ...]) -> list[str]:
    """A read's header, its table (each model on each of `parts`) and its paired differences:
    what `render` here and `sixth.render` print first."""
    lines = [f"digests {found['digests']} (after: {found['digests_after']}), "
             f"{found['draws']} resamplings, seed {found['seed']}",
             "| model (threshold) | part | n | to a dispatcher (95 %) | routed right (95 %) |"
             " P(right < 95 %) | aim | lead: to a dispatcher / right |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in found["models"].items():
        for part in parts:
            f = row[part]
            lines.append(
                f"| {name} ({row['threshold']:.3f}) | {part} | {f['n']} | {1 - f['auto']:.1%} "
                f"({1 - f['auto_hi']:.1%}–{1 - f['auto_lo']:.1%}) | {f['auto_right']:.1%} "
                f"({f['right_lo']:.1%}–{f['right_hi']:.1%}) | {f['below_target']:.0%} | "
                f"{f['verdict']} | {1 - f['lead']['auto']:.1%} / {f['lead']['auto_right']:.1%} |")
    lines.append("")
    for part, d in found["paired"].items():
        lines.append(f"paired, {part}: routed {d['more_routed']:+.1%} ({d['more_lo']:+.1%}.."
                     f"{d['more_hi']:+.1%}), right {d['right_diff']:+.1%} "
                     f"({d['right_diff_lo']:+.1%}..{d['right_diff_hi']:+.1%})")
    return lines


def render(found: dict[str, Any]) -> str:
    lines = figure_lines(found, ("fourth+fifth", "fifth", "fourth"))
    lines += ["", f"request by request (pooled): {found['changes']}",
              f"rule: {found['decision']['checks']} -> "
              f"{'REPLACE the shipped model' if found['decision']['replace'] else 'keep the shipped model'}",
              "", "routed wrongly:"]
    for name, row in found["models"].items():
        lines += [f"  {name}: {w['case']} -> {w['predicted']} ({w['confidence']})"
                  for w in row["wrong"]]
    lines.append(f"sha256: shipped {found['models']['shipped']['sha256']}, "
                 f"candidate {found['models']['candidate']['sha256']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tools.recognition.retrained")
    parser.add_argument("what", choices=("read",))
    parser.add_argument("candidate", help="the candidate's model file (train --with-held-out)")
    parser.add_argument("--shipped", default=str(MODEL_PATH))
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    found = read(Path(args.candidate), Path(args.shipped))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(found, f, ensure_ascii=False, indent=1)
    print(render(found))
