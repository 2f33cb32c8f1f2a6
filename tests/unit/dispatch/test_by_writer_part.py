"""Session 15 (`tools/recognition/bywriter.py`): the threshold and the 权责清单 setting chosen
leave-one-part-out (by writer), the candidate fixed by sha256 before the seventh part is read,
and the rule of docs/recognition.md "Session 15: a seventh part, to decide on a candidate chosen
by writer". The rule's read (once, session 15) said replace: the candidate is the shipped model,
trained on parts 1-6, and the seventh part is the only one it never trained on; only
`test_the_shipped_model_on_the_seventh_part` reads the seventh part, after that read."""

from __future__ import annotations

import ast
import inspect
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from services.dispatch.domain.linear import LinearClassifier, LinearModel
from services.dispatch.domain.responsibilities import load_responsibilities
from tools.recognition import bywriter
from tools.recognition.train import MODEL_PATH


def found_of(per_part: dict[str, tuple[list[float], list[bool]]]) -> dict:
    """A `folds` result where every 权责清单 setting scores the same."""
    scored = {p: {"sure": s, "right": g} for p, (s, g) in per_part.items()}
    return {"scored": {bywriter.key_of(d): scored for d in bywriter.DUTY_GRID}}


def test_the_threshold_is_the_lowest_at_which_every_hand_written_part_holds_from_there_up():
    # 20 requests a part, confidences 0.50..0.975; a hand part wrong at 0.55 and at 0.80
    sure = [round(0.5 + 0.025 * i, 3) for i in range(20)]
    good = [True] * 20
    wrong_low = [c != 0.55 for c in sure]  # holds from 0.555 up (and at 0.5: 19 of 20)
    wrong_high = [c not in (0.8, 0.55) for c in sure]
    parts = {p: (sure, good) for p in bywriter.PARTS}
    parts["generated"] = (sure, [False] * 20)  # not hand-written: never decides
    parts["third"] = (sure, wrong_low)
    parts["sixth"] = (sure, wrong_high)
    choice = bywriter.choose(found_of(parts))
    best = choice["best"]
    # sixth: from 0.555 to 0.80 one wrong among at most 18 (< 95 %): it holds only above 0.80
    assert best["threshold"] == 0.805
    assert best["parts"]["sixth"]["right"] == 1.0
    for t in bywriter.THRESHOLDS:
        if t >= best["threshold"]:
            s, g = np.array(sure), np.array(wrong_high)
            assert bywriter.at(s, g, t)[1] >= bywriter.TARGET
    # a margin asks more: never a lower threshold
    assert bywriter.choose(found_of(parts), margin=0.02)["best"]["threshold"] >= 0.805


def test_the_setting_that_routes_most_at_its_own_threshold_is_chosen():
    sure = [0.6, 0.7, 0.8, 0.9, 0.95] * 4
    right = [True] * 20
    loose = {p: (sure, right) for p in bywriter.PARTS}
    strict = {p: (sure, [s >= 0.9 for s in sure]) for p in bywriter.PARTS}
    found = found_of(strict)
    found["scored"][bywriter.key_of(bywriter.DUTY_GRID[5])] = found_of(loose)["scored"][
        bywriter.key_of(bywriter.DUTY_GRID[0])]
    choice = bywriter.choose(found)
    assert choice["best"]["duty"] == bywriter.key_of(bywriter.DUTY_GRID[5])
    assert choice["best"]["threshold"] == bywriter.THRESHOLDS[0]
    assert choice["best"]["hand"] == {"routed": 1.0, "right": 1.0}


def test_a_duty_variant_changes_only_the_list_setting_the_service_reads(tmp_path: Path):
    out = bywriter.with_duty(MODEL_PATH, (3.0, "cap", "ignore"), tmp_path / "v.json")
    old, new = json.loads(MODEL_PATH.read_text("utf-8")), json.loads(out.read_text("utf-8"))
    assert new["heads"] == old["heads"] and new["threshold"] == old["threshold"]
    from services.dispatch.domain.taxonomy import load_taxonomy

    clf = LinearClassifier(load_taxonomy(), LinearModel.from_dict(new),
                           duties=load_responsibilities())
    assert (clf.duty_weight, clf.duty_conflict, clf.duty_disagreement) == (3.0, "cap", "ignore")


def out_of(right: float, right_lo: float, more_hi: float, right_diff_hi: float) -> dict:
    return {"models": {"candidate": {"seventh": {"auto_right": right, "right_lo": right_lo}}},
            "paired": {"seventh": {"more_hi": more_hi, "right_diff_hi": right_diff_hi}}}


def test_the_rule_replaces_only_when_right_enough_and_not_clearly_worse():
    assert bywriter.decide(out_of(0.95, 0.925, 0.0, 0.0))["replace"]
    assert not bywriter.decide(out_of(0.949, 0.93, 0.1, 0.1))["replace"]  # point below 95 %
    assert not bywriter.decide(out_of(0.96, 0.924, 0.1, 0.1))["replace"]  # interval too low
    assert not bywriter.decide(out_of(0.97, 0.95, 0.1, -0.001))["replace"]  # clearly less right
    assert not bywriter.decide(out_of(0.97, 0.95, -0.001, 0.1))["replace"]  # clearly fewer routed


def test_the_seventh_part_is_read_only_by_the_read_and_only_of_the_fixed_candidate():
    tree = ast.parse(inspect.getsource(bywriter))
    readers = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
               for node in ast.walk(f)
               if isinstance(node, ast.ImportFrom) and node.module == "tools.recognition.seventh"}
    assert readers == {"read"}
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("seventh" not in ast.unparse(n) for n in top)
    assert set(bywriter.parts()) == set(bywriter.PARTS) and "seventh" not in bywriter.PARTS
    assert len(bywriter.CANDIDATE_SHA256) == 64
    assert 0.0 < bywriter.CHOSEN["threshold"] < 1.0
    assert bywriter.SEED == 20261207 and bywriter.DRAWS == 2000


def test_the_read_scores_both_models_on_the_same_draws(monkeypatch):
    """The read's code path on a stand-in for the seventh part (the sixth part's first 40
    requests), the shipped model standing in for the candidate: every paired difference is 0."""

    from tools.recognition.retrained import sha256_of
    from tools.recognition.sixth import sixth_requests

    stand_in = types.ModuleType("tools.recognition.seventh")
    stand_in.seventh_requests = lambda: sixth_requests()[:40]  # type: ignore[attr-defined]
    stand_in.digest = lambda: "stand-in"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tools.recognition.seventh", stand_in)
    monkeypatch.setattr(bywriter, "CANDIDATE_SHA256", sha256_of(MODEL_PATH))
    found = bywriter.read(MODEL_PATH, draws=200)
    d = found["paired"]["seventh"]
    assert d["more_lo"] == d["more_hi"] == 0 and d["right_diff_lo"] == d["right_diff_hi"] == 0
    assert found["models"]["candidate"]["seventh"] == found["models"]["shipped"]["seventh"]
    assert found["models"]["shipped"]["seventh"]["n"] == 40
    assert found["decision"]["checks"]["2a_not_clearly_less_right"]
    assert found["digests"] == found["digests_after"] == {"seventh": "stand-in"}
    assert "REPLACE" in bywriter.render_read(found) or "keep" in bywriter.render_read(found)
    monkeypatch.setattr(bywriter, "CANDIDATE_SHA256", "0" * 64)
    with pytest.raises(SystemExit):
        bywriter.read(MODEL_PATH, draws=10)


def test_the_shipped_model_is_the_candidate_the_rule_chose():
    """Session 15's read said replace (docs/recognition.md): the model file is the candidate,
    byte for byte, with the setting and threshold of `CHOSEN`. A retraining (new corrections, new
    parts) changes the bytes: it is a new model, to be judged on requests it never saw."""
    assert bywriter.sha256_of(MODEL_PATH) == bywriter.CANDIDATE_SHA256
    meta = json.loads(MODEL_PATH.read_text("utf-8"))
    assert meta["threshold"] == bywriter.CHOSEN["threshold"]
    assert (meta["meta"]["responsibility_weight"], meta["meta"]["responsibility_conflict"],
            meta["meta"]["responsibility_disagreement"]) == (
        bywriter.CHOSEN["weight"], bywriter.CHOSEN["conflict"], bywriter.CHOSEN["disagreement"])
    assert meta["meta"]["trained_on"] == len(bywriter.training_records()) == 4709


def test_retraining_is_one_command_and_dispatchers_corrections_join_it(monkeypatch, tmp_path):
    """`python -m tools.recognition train` is `bywriter.train` (the shipped pipeline); the
    dispatchers' labels (`train.load_corrections`) join the final fit, not the out-of-fold
    temperatures; `--by-matter` keeps the pipeline before session 15."""
    from services.dispatch.domain.labelled import LabelledRequest
    from tools.recognition import train as tr
    from tools.recognition.__main__ import main

    label = LabelledRequest.from_dict({
        "text": "小区门口的路灯坏了好几天", "category": "urban-management",
        "subcategory": "street-lights", "type": "complaint", "urgency": "normal",
        "case": "dispatcher#0", "split": "train"})
    monkeypatch.setattr(tr, "load_corrections", lambda path=tr.CORRECTIONS_PATH: [label])
    seen: dict = {}

    def fake_fit(records, path, duty, threshold, all_heads=True, corrections=()):
        seen.update(records=len(records), duty=duty, threshold=threshold,
                    corrections=list(corrections), path=path)
        path.write_text("{}", "utf-8")
        return {"records": len(records) + len(corrections)}

    monkeypatch.setattr(bywriter, "fit", fake_fit)
    assert main(["train", "--out", str(tmp_path / "m.json")]) == 0
    assert seen["corrections"] == [label] and seen["records"] == 4709
    assert seen["threshold"] == bywriter.CHOSEN["threshold"]
    assert seen["duty"] == (bywriter.CHOSEN["weight"], bywriter.CHOSEN["conflict"],
                            bywriter.CHOSEN["disagreement"])
    assert seen["path"] == tmp_path / "m.json"
    called = []
    monkeypatch.setattr(tr, "train", lambda **kw: called.append(kw) or {})
    assert main(["train", "--by-matter", "--out", str(tmp_path / "b.json")]) == 0
    assert called == [{"path": tmp_path / "b.json", "with_held_out": False}]


def _shipped_on(part: list, taxonomy, gazetteer) -> tuple[float, float]:
    """(share to a dispatcher, share right of what is routed) of the shipped model on `part`,
    scored as dispatch scores it, after checking the part is not in its training set."""
    from services.dispatch.domain.linear import load_linear_model
    from services.dispatch.domain.routing import load_routing_table, unit_confidence
    from tools.recognition.train import route_key

    clf = LinearClassifier(taxonomy, load_linear_model(), blank_places=gazetteer.without_places,
                           duties=load_responsibilities())
    key, table = route_key(), load_routing_table(2)
    training = bywriter.training_records()
    assert not {r.case for r in training} & {r.case for r in part}
    assert not {r.text for r in training} & {r.text for r in part}
    routed = [(r, c) for r in part
              if unit_confidence(c := clf.classify(r.text, address=r.address), table)
              >= clf.threshold]
    right = sum(key[c.subcategory] == key[r.subcategory] for r, c in routed)
    return 1 - len(routed) / len(part), right / len(routed)


def test_the_shipped_model_on_the_seventh_part(taxonomy, gazetteer):
    """The part the shipped model was chosen on, never trained on (parts 1-6 are its training
    data, their figures training fit). Session 15's read: 7.6 % to a dispatcher (26 of 344), 97.8 %
    of what is routed to the right unit (311 of 318). The bounds are the issue's: at most 10.5 %
    to a dispatcher (the upper end of the read's interval) and at least 95 % right; a retraining
    that loses ground on an unseen part fails here."""
    from tools.recognition.seventh import seventh_requests

    to_dispatcher, right = _shipped_on(seventh_requests(), taxonomy, gazetteer)
    assert to_dispatcher <= 0.105
    assert right >= 0.95


def test_the_shipped_model_on_the_parts_written_after_it(taxonomy, gazetteer):
    """The eighth and ninth parts, written blind after the model was fixed (a measurement, read
    once: docs/recognition.md "Session 15: the shipped model on two more blind parts"): 4.4 % to
    a dispatcher (30 of 677), 99.4 % right (643 of 647). Bounds: the upper end of the read's
    interval for the first (6.1 %, kept at 6.5 %) and its lower end for the second (98.6 %, kept
    at 98 %)."""
    from tools.recognition.eighth import eighth_requests
    from tools.recognition.ninth import ninth_requests

    to_dispatcher, right = _shipped_on(eighth_requests() + ninth_requests(), taxonomy, gazetteer)
    assert to_dispatcher <= 0.065
    assert right >= 0.98
