"""Session 9: the shipped model and the variants measured out of fold before, on the three
held-out parts pooled, with paired intervals by matter, and the decision rule written down in
docs/recognition.md ("Session 9") before the third part was read.

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.pooled [--json PATH]

Held-out parts: the generated test part (a matter's four texts stand or fall together), the
second part (`fresh.py`) and the third (`third.py`), one matter per request. The shipped model
is scored by the service's own code (`LinearClassifier` with the 权责清单's weight and rules, at
the threshold in the model file); each variant by `experiments.Bench` (scikit-learn scoring of
the same features), at its own threshold read out of fold on the train part the way `train`
reads the shipped one (`sure_threshold` over the five fold assignments pooled; the first
assignment's alone is printed beside it). Nothing here is trained on a held-out part or reads
a threshold from one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.dispatch.domain.linear import LinearClassifier, load_linear_model
from services.dispatch.domain.places import load_gazetteer
from services.dispatch.domain.responsibilities import load_responsibilities
from services.dispatch.domain.routing import load_routing_table, unit_confidence
from services.dispatch.domain.taxonomy import load_taxonomy
from tools.recognition import train as trained
from tools.recognition.experiments import Bench, variants

# The competitors the rule names (docs/recognition.md, "Session 9"), and a reference: the
# model before the list's rules, scored the same way as the variants.
COMPETING = ("+ list as features", "+ list, SVC and LogisticRegression averaged")
REFERENCE = "shipped: LinearSVC C=0.3, char 1-2"
TARGET = 0.95
DRAWS = 2000
SEED = 20261206


def shipped(bench: Bench) -> dict[str, Any]:
    """The committed model as dispatch scores it, on every held-out request."""
    clf = LinearClassifier(load_taxonomy(), load_linear_model(),
                           blank_places=load_gazetteer().without_places,
                           duties=load_responsibilities())
    table, key = load_routing_table(2), trained.route_key()
    results = [clf.classify(r.text, address=r.address) for r in bench.held_out]
    sure = np.array([unit_confidence(c, table) for c in results])
    return {"threshold": clf.threshold, "auto": sure >= clf.threshold,
            "right": np.array([key[c.subcategory] == key[r.subcategory]
                               for c, r in zip(results, bench.held_out, strict=True)])}


def variant(bench: Bench, name: str) -> dict[str, Any]:
    """A variant at its own train-read threshold (five fold assignments pooled)."""
    models = variants()[name]
    gold = np.array([trained.unit_of(c) for c in bench.y])
    sures, rights, first, test = [], [], 0.0, None
    for shuffle in trained.FOLD_ASSIGNMENTS:
        p, capped, pt, ct = bench.probabilities(models, shuffle is None, shuffle)
        unit, sure = bench.unit_confidence(p, capped)
        sures.append(sure)
        rights.append(unit == gold)
        if shuffle is None:
            first = trained.sure_threshold(sure, unit == gold, bench.groups)
            assert pt is not None and ct is not None  # the first assignment reads the test
            test = bench.unit_confidence(pt, ct)
        print(f"  {name}: fold assignment {shuffle} scored", flush=True)
    threshold = trained.sure_threshold(np.concatenate(sures), np.concatenate(rights),
                                       np.concatenate([bench.groups] * len(sures)))
    assert test is not None
    unit_t, sure_t = test
    gold_t = np.array([trained.unit_of(c) for c in bench.y_test])
    return {"threshold": threshold, "threshold_first_assignment": first,
            "auto": sure_t >= threshold, "right": unit_t == gold_t,
            "oof_auto": float(np.mean(np.concatenate(sures) >= threshold)),
            "oof_auto_right": float(np.concatenate(rights)[np.concatenate(sures)
                                                           >= threshold].mean())}


def draws_of(cases: Sequence[str], draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """Bootstrap weights per request, resampling matters (the same draws for every model)."""
    rng = np.random.default_rng(seed)
    names, index = np.unique(np.array(cases), return_inverse=True)
    return np.stack([np.bincount(rng.integers(0, len(names), len(names)),
                                 minlength=len(names)) for _ in range(draws)])[:, index]


def shares(w: np.ndarray, auto: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: the share routed automatically and the share of that which is right."""
    routed = (w * auto).sum(axis=1)
    return routed / w.sum(axis=1), (w * (auto & right)).sum(axis=1) / np.maximum(routed, 1)


def figures(w: np.ndarray, auto: np.ndarray, right: np.ndarray) -> dict[str, float]:
    share, good = shares(w, auto, right)
    return {"n": len(auto), "auto": float(auto.mean()),
            "auto_right": float(right[auto].mean()) if auto.any() else 0.0,
            "auto_lo": float(np.quantile(share, 0.025)), "auto_hi": float(np.quantile(share, 0.975)),
            "right_lo": float(np.quantile(good, 0.025)), "right_hi": float(np.quantile(good, 0.975)),
            "below_target": float(np.mean(good < TARGET)),
            "unit_accuracy": float(right.mean())}


def decide(pooled_w: np.ndarray, base: dict[str, Any], mine: dict[str, Any],
           third: slice) -> dict[str, Any]:
    """The rule of docs/recognition.md "Session 9", applied to one variant against the shipped
    model: (1) >= 95 % right pooled and on the third part alone; (2) >= 2 points more routed
    pooled and the paired 95 % interval of that difference above 0; (3) the paired interval of
    the difference in right share reaching 0 or above."""
    a0, r0 = shares(pooled_w, base["auto"], base["right"])
    a1, r1 = shares(pooled_w, mine["auto"], mine["right"])
    more, righter = a1 - a0, r1 - r0
    auto, right = mine["auto"], mine["right"]
    pooled_right = float(right[auto].mean())
    third_right = float(right[third][auto[third]].mean())
    more_point = float(auto.mean() - base["auto"].mean())
    checks = {
        "1_right_pooled_and_third": pooled_right >= TARGET and third_right >= TARGET,
        "2_routes_clearly_more": more_point >= 0.02 and float(np.quantile(more, 0.025)) > 0,
        "3_not_clearly_less_right": float(np.quantile(righter, 0.975)) >= 0,
    }
    return {"more_routed": more_point,
            "more_lo": float(np.quantile(more, 0.025)), "more_hi": float(np.quantile(more, 0.975)),
            "right_diff": float(pooled_right - base["right"][base["auto"]].mean()),
            "right_diff_lo": float(np.quantile(righter, 0.025)),
            "right_diff_hi": float(np.quantile(righter, 0.975)),
            "checks": checks, "ship": all(checks.values())}


def run(names: Sequence[str] = (*COMPETING, REFERENCE)) -> dict[str, Any]:
    bench = Bench()
    cases = [r.case for r in bench.held_out]
    fresh_end = bench.n_generated + bench.n_fresh
    parts = {"generated": slice(0, bench.n_generated),
             "fresh": slice(bench.n_generated, fresh_end),
             "third": slice(fresh_end, None), "pooled": slice(None)}
    weights = {part: draws_of(cases[rows]) for part, rows in parts.items()}
    models = {"shipped (service)": shipped(bench)}
    for name in names:
        models[name] = variant(bench, name)
    out: dict[str, Any] = {"parts": {p: len(cases[rows]) for p, rows in parts.items()},
                           "models": {}}
    for name, m in models.items():
        row: dict[str, Any] = {"threshold": m["threshold"]}
        for key in ("threshold_first_assignment", "oof_auto", "oof_auto_right"):
            if key in m:
                row[key] = m[key]
        for part, rows in parts.items():
            row[part] = figures(weights[part], m["auto"][rows], m["right"][rows])
        if name != "shipped (service)" and name in COMPETING:
            row["decision"] = decide(weights["pooled"], models["shipped (service)"], m,
                                     parts["third"])
        row["wrong_third"] = [cases[i] for i in np.flatnonzero(m["auto"] & ~m["right"])
                              if i >= fresh_end]
        out["models"][name] = row
    return out


def render(found: dict[str, Any]) -> str:
    lines = [f"held-out requests: {found['parts']}", "",
             "| model | threshold | part | routed | right | routed 95 % | right 95 % | P(<95 %) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in found["models"].items():
        for part in ("generated", "fresh", "third", "pooled"):
            f = row[part]
            lines.append(
                f"| {name} | {row['threshold']:.3f} | {part} ({f['n']}) | {f['auto']:.1%} | "
                f"{f['auto_right']:.1%} | {f['auto_lo']:.1%}–{f['auto_hi']:.1%} | "
                f"{f['right_lo']:.1%}–{f['right_hi']:.1%} | {f['below_target']:.0%} |")
    lines.append("")
    for name, row in found["models"].items():
        if "decision" in row:
            d = row["decision"]
            lines.append(
                f"{name}: {d['more_routed']:+.1%} routed ({d['more_lo']:+.1%}..{d['more_hi']:+.1%}),"
                f" right {d['right_diff']:+.1%} ({d['right_diff_lo']:+.1%}..{d['right_diff_hi']:+.1%});"
                f" checks {d['checks']} -> {'SHIP' if d['ship'] else 'keep the shipped model'}")
        lines.append(f"{name}: wrong automatic routes in the third part: {row['wrong_third']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tools.recognition.pooled")
    parser.add_argument("--only", action="append", default=[],
                        help="only these variants (default: the competitors and the reference)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    found = run(args.only or (*COMPETING, REFERENCE))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(found, f, ensure_ascii=False, indent=1)
    print(render(found))
