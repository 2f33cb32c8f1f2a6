"""Measuring the classifiers: cross-validation on the train part, then the held-out test part.

    python -m tools.recognition evaluate   # prints, and writes docs/recognition-results.md

1. Candidates compared by 5-fold cross-validation on the train part, folds by matter (a matter
   is never in the training and the validation fold at once), every candidate taught the
   taxonomy's keywords the same way: the naive Bayes dispatch ran until now, and scikit-learn's
   ComplementNB, LinearSVC and LogisticRegression over TF-IDF of character n-grams or of jieba
   words plus character bigrams.
2. The shipped model (`data/recognition_model.json`, scored by the service's own code) on the
   held-out test part: accuracy, macro-F1, F1 per category, the category confusion matrix,
   calibration, what the routing threshold routes automatically and how often rightly, and the
   cost: model load time, time per text, process RSS.
"""

from __future__ import annotations

import gc
import resource
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from services.dispatch.domain.classifier import RequestClassifier, Tokenizer
from services.dispatch.domain.labelled import (
    LabelledRequest,
    load_labelled_requests,
    split,
    train_classifier,
)
from services.dispatch.domain.linear import LinearClassifier, char_ngrams, load_linear_model
from services.dispatch.domain.places import load_gazetteer
from services.dispatch.domain.responsibilities import load_responsibilities
from services.dispatch.domain.routing import load_routing_table, unit_confidence
from services.dispatch.domain.taxonomy import Taxonomy, load_taxonomy
from tools.recognition.fresh import fresh_requests
from tools.recognition.third import third_requests
from tools.recognition.train import fold_groups, route_key, taxonomy_seeds, texts_of

RESULTS = Path("docs/recognition-results.md")


def _features() -> dict[str, Callable[[str], list[str]]]:
    tok: list[Tokenizer] = []

    @cache
    def words(text: str) -> list[str]:
        if not tok:
            tok.append(Tokenizer())
        return [w for w in tok[0].features(text) if not w.startswith("2:")] + char_ngrams(text, 1, 2)

    return {"字1-2元": cache(lambda t: char_ngrams(t, 1, 2)),
            "字1-3元": cache(lambda t: char_ngrams(t, 1, 3)), "jieba词+字1-2元": words}


MODELS: dict[str, Callable[[], Any]] = {
    "ComplementNB": lambda: ComplementNB(alpha=0.3),
    "LinearSVC": lambda: LinearSVC(C=0.3, random_state=0),
    "LogisticRegression": lambda: LogisticRegression(C=20.0, max_iter=300),
}


def cross_validate(train: Sequence[LabelledRequest], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    texts = texts_of(train)
    y = np.array([r.subcategory for r in train])
    cats = np.array([r.category for r in train])
    groups = fold_groups(train)
    seeds = taxonomy_seeds()
    folds = list(GroupKFold(n_splits=5).split(texts, y, groups))
    rows = []
    predicted = np.empty(len(train), dtype=object)
    started = time.perf_counter()
    for tr, te in folds:
        nb = train_classifier(RequestClassifier(taxonomy), [train[i] for i in tr])
        for i in te:
            predicted[i] = nb.classify(train[i].text, address=train[i].address).subcategory
    rows.append(_row("naive Bayes（现行）", "jieba词+字2元", predicted, y, cats, taxonomy,
                     time.perf_counter() - started))
    for fname, analyzer in _features().items():
        for mname, make in MODELS.items():
            started = time.perf_counter()
            for tr, te in folds:
                vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)
                x = vec.fit_transform([texts[i] for i in tr] + [w for w, _ in seeds])
                model = make().fit(x, list(y[tr]) + [s for _, s in seeds])
                predicted[te] = model.predict(vec.transform([texts[i] for i in te]))
            rows.append(_row(mname, fname, predicted, y, cats, taxonomy,
                             time.perf_counter() - started))
    return rows


def _row(model: str, features: str, predicted: np.ndarray, y: np.ndarray, cats: np.ndarray,
         taxonomy: Taxonomy, seconds: float) -> dict[str, Any]:
    pcat = np.array([taxonomy.category_of(p) for p in predicted])
    return {"model": model, "features": features,
            "accuracy": float((predicted == y).mean()),
            "macro_f1": float(f1_score(y, list(predicted), average="macro")),
            "category_accuracy": float((pcat == cats).mean()), "seconds": seconds}


def held_out(test: Sequence[LabelledRequest], taxonomy: Taxonomy) -> dict[str, Any]:
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    clf = LinearClassifier(taxonomy, load_linear_model(),
                           blank_places=load_gazetteer().without_places,
                           duties=load_responsibilities())
    load_s = time.perf_counter() - started
    results = [clf.classify(r.text, address=r.address) for r in test]
    without_list = _without_list(test, clf)
    texts = [(r.text, r.address) for r in test] * 5
    started = time.process_time()  # CPU: the box is shared, a busy neighbour is not our cost
    for text, address in texts:
        clf.classify(text, address=address)
    per_text_ms = (time.process_time() - started) / len(texts) * 1000
    key = route_key()
    y = [r.subcategory for r in test]
    pred = [c.subcategory for c in results]
    conf = np.array([c.confidence for c in results])
    table = load_routing_table(2)
    sure = np.array([unit_confidence(c, table) for c in results])  # what routing decides on
    right = np.array([p == g for p, g in zip(pred, y, strict=True)])
    unit_right = np.array([key[p] == key[g] for p, g in zip(pred, y, strict=True)])
    auto = sure >= clf.threshold
    subcategory_auto = conf >= clf.threshold  # routing v2 before it summed by unit
    lead_table = replace(table, second_matter="lead")  # the city's other choice
    lead_auto = np.array([unit_confidence(c, lead_table) for c in results]) >= clf.threshold
    # Measured, not used: one threshold per unit, read out of fold like the global one.
    routed_to = np.array([key[p] for p in pred])
    per_unit = clf.model.meta.get("threshold_per_unit_out_of_fold", {})
    unit_auto = sure >= np.array([per_unit.get(u, clf.threshold) for u in routed_to])
    cats = sorted(taxonomy.category_names)
    gold_cat = [r.category for r in test]
    pred_cat = [c.category for c in results]
    urgent = [c.urgency == "urgent" for c, r in zip(results, test, strict=True)
              if r.urgency == "urgent"]
    return {
        "n": len(test), "threshold": clf.threshold,
        "confidence": float(clf.model.meta.get("confidence", 0.95)),
        "accuracy": float(right.mean()),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "category_accuracy": float(np.mean([a == b for a, b in zip(pred_cat, gold_cat,
                                                                   strict=True)])),
        "unit_accuracy": float(unit_right.mean()),
        "type_accuracy": float(np.mean([c.request_type == r.request_type
                                        for c, r in zip(results, test, strict=True)])),
        "urgency_accuracy": float(np.mean([c.urgency == r.urgency
                                           for c, r in zip(results, test, strict=True)])),
        "urgent_recall": float(np.mean(urgent)) if urgent else 1.0,
        "auto_share": float(auto.mean()),
        "auto_unit_accuracy": float(unit_right[auto].mean()) if auto.any() else 0.0,
        "auto_subcategory_accuracy": float(right[auto].mean()) if auto.any() else 0.0,
        "auto_share_by_subcategory": float(subcategory_auto.mean()),
        "auto_unit_accuracy_by_subcategory": (float(unit_right[subcategory_auto].mean())
                                              if subcategory_auto.any() else 0.0),
        "auto_share_lead": float(lead_auto.mean()),
        "auto_unit_accuracy_lead": float(unit_right[lead_auto].mean()) if lead_auto.any() else 0.0,
        "auto_share_per_unit_thresholds": float(unit_auto.mean()),
        "auto_unit_accuracy_per_unit_thresholds": (float(unit_right[unit_auto].mean())
                                                   if unit_auto.any() else 0.0),
        "without_list": without_list,
        "list_matched": sum(bool(c.duty_reasons) for c in results),
        "list_conflicting": sum(any(r.startswith("权责清单冲突") for r in c.duty_reasons)
                                for c in results),
        "list_weight": clf.duty_weight, "list_conflict": clf.duty_conflict,
        "list_disagreement": clf.duty_disagreement,
        "list_disagreeing": sum(any(r.startswith("权责清单指向") for r in c.duty_reasons)
                                for c in results),
        "units": _per_unit(routed_to, np.array([key[g] for g in y]), auto, unit_right),
        "by_matter": _by_matter([r.case for r in test], auto, unit_right),
        "wrong_matters": _wrong_matters(test, routed_to, auto, unit_right),
        "multi_matter": sum(bool(c.other_matters) for c in results),
        "multi_matter_capped": int(sum(bool(c.other_matters) and s <= 0.5
                                       for c, s in zip(results, sure, strict=True))),
        "category_f1": dict(zip(cats, f1_score(gold_cat, pred_cat, labels=cats, average=None,
                                               zero_division=0), strict=True)),
        "subcategory_f1": dict(zip(sorted(set(y)), f1_score(
            y, pred, labels=sorted(set(y)), average=None, zero_division=0), strict=True)),
        "confusion": Counter(zip(gold_cat, pred_cat, strict=True)), "categories": cats,
        "calibration": _calibration(conf, right),
        "fresh": _fresh_part(clf, table, [r.case for r in test], auto, unit_right),
        "third": _third_part(clf, table, [r.case for r in test], auto, unit_right),
        "load_seconds": load_s, "per_text_ms": per_text_ms,
        "rss_mb_after_load": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_mb_before_load": rss_before / 1024,
    }


def _fresh_part(clf: LinearClassifier, table: Any, cases: Sequence[str], auto: np.ndarray,
                unit_right: np.ndarray) -> dict[str, Any]:
    """The second held-out part (`fresh.py`: one text per matter, none of the generator's
    templates) at the same threshold, alone and pooled with the generated part (resampled by
    matter: a generated matter's four texts together, a fresh request on its own)."""
    records = fresh_requests()
    key = route_key()
    results = [clf.classify(r.text, address=r.address) for r in records]
    sure = np.array([unit_confidence(c, table) for c in results])
    right = np.array([key[c.subcategory] == key[r.subcategory]
                      for c, r in zip(results, records, strict=True)])
    mine = sure >= clf.threshold
    pooled = _by_matter([*cases, *(r.case for r in records)], np.concatenate([auto, mine]),
                        np.concatenate([unit_right, right]))
    both_auto = np.concatenate([auto, mine])
    both_right = np.concatenate([unit_right, right])
    return {"n": len(records),
            "accuracy": float(np.mean([c.subcategory == r.subcategory
                                       for c, r in zip(results, records, strict=True)])),
            "unit_accuracy": float(right.mean()), "auto_share": float(mine.mean()),
            "auto_unit_accuracy": float(right[mine].mean()) if mine.any() else 0.0,
            "by_matter": _by_matter([r.case for r in records], mine, right),
            "multi_matter": sum(bool(c.other_matters) for c in results),
            "wrong": [(r.case, key[r.subcategory], key[c.subcategory])
                      for r, c, a, ok in zip(records, results, mine, right, strict=True)
                      if a and not ok],
            "pooled_n": len(both_auto), "pooled_auto_share": float(both_auto.mean()),
            "pooled_auto_unit_accuracy": float(both_right[both_auto].mean()),
            "pooled_by_matter": pooled}


def _third_part(clf: LinearClassifier, table: Any, cases: Sequence[str], auto: np.ndarray,
                unit_right: np.ndarray) -> dict[str, Any]:
    """The third held-out part (`third.py`, session 9) at the same threshold, alone and with
    the other two pooled (`python -m tools.recognition.pooled` compares models on them)."""
    key = route_key()
    fresh, third = fresh_requests(), third_requests()
    routed, right = [], []
    for records in (fresh, third):
        results = [clf.classify(r.text, address=r.address) for r in records]
        routed.append(np.array([unit_confidence(c, table) >= clf.threshold for c in results]))
        right.append(np.array([key[c.subcategory] == key[r.subcategory]
                               for c, r in zip(results, records, strict=True)]))
    mine, ok = routed[1], right[1]
    all_auto, all_right = np.concatenate([auto, *routed]), np.concatenate([unit_right, *right])
    return {"n": len(third), "unit_accuracy": float(ok.mean()), "auto_share": float(mine.mean()),
            "auto_unit_accuracy": float(ok[mine].mean()) if mine.any() else 0.0,
            "by_matter": _by_matter([r.case for r in third], mine, ok),
            "pooled_n": len(all_auto), "pooled_auto_share": float(all_auto.mean()),
            "pooled_auto_unit_accuracy": float(all_right[all_auto].mean()),
            "pooled_by_matter": _by_matter([*cases, *(r.case for r in fresh + third)],
                                           all_auto, all_right)}


def _without_list(test: Sequence[LabelledRequest], clf: LinearClassifier) -> dict[str, Any]:
    """The same model without the 权责清单, at its own threshold (the figures before the list):
    (threshold, auto share, right unit among auto-routed, CPU ms per text)."""
    bare = LinearClassifier(clf.taxonomy, clf.model, blank_places=clf.blank_places)
    key, table = route_key(), load_routing_table(2)
    results = [bare.classify(r.text, address=r.address) for r in test]
    sure = np.array([unit_confidence(c, table) for c in results])
    right = np.array([key[c.subcategory] == key[r.subcategory]
                      for c, r in zip(results, test, strict=True)])
    auto = sure >= bare.threshold
    ms = {}
    for name, model in (("bare", bare), ("list", clf)):  # alternating, CPU time
        spent = 0.0
        for _ in range(3):
            started = time.process_time()
            for r in test:
                model.classify(r.text, address=r.address)
            spent += time.process_time() - started
        ms[name] = spent / (3 * len(test)) * 1000
    return {"threshold": bare.threshold, "auto_share": float(auto.mean()),
            "auto_unit_accuracy": float(right[auto].mean()) if auto.any() else 0.0,
            "unit_accuracy": float(right.mean()), "per_text_ms": ms["bare"],
            "per_text_ms_with_list": ms["list"]}


def _by_matter(cases: Sequence[str], auto: np.ndarray, right: np.ndarray,
               draws: int = 2000, seed: int = 20261205) -> dict[str, float]:
    """How far the test part's figures could move with another draw of matters: the 95 %
    interval of the auto share and of its right share, resampling the test part's matters (a
    matter's four texts stand or fall together: one matter wrong is four requests)."""
    rng = np.random.default_rng(seed)
    names, index = np.unique(np.array(cases), return_inverse=True)
    w = np.stack([np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names))
                  for _ in range(draws)])[:, index]
    share = (w * auto).sum(axis=1) / w.sum(axis=1)
    good = (w * (auto & right)).sum(axis=1) / np.maximum((w * auto).sum(axis=1), 1)
    lo, hi = np.quantile(share, [0.025, 0.975]), np.quantile(good, [0.025, 0.975])
    return {"matters": len(names), "auto_share_lo": float(lo[0]), "auto_share_hi": float(lo[1]),
            "auto_right_lo": float(hi[0]), "auto_right_hi": float(hi[1]),
            "below_target": float(np.mean(good < 0.95))}


def _wrong_matters(test: Sequence[LabelledRequest], routed_to: np.ndarray, auto: np.ndarray,
                   right: np.ndarray) -> list[tuple[str, str, str, int]]:
    """The test matters routed automatically to a wrong unit: (matter, its unit, routed to,
    how many of its texts)."""
    wrong = Counter((test[i].case, route_key()[test[i].subcategory], str(routed_to[i]))
                    for i in map(int, np.flatnonzero(auto & ~right)))
    return [(*k, n) for k, n in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))]


def _per_unit(routed_to: np.ndarray, gold: np.ndarray, auto: np.ndarray,
              right: np.ndarray) -> list[tuple[str, int, int, float, float]]:
    """Per unit ("属地": a county's sub-platform): (unit, requests it should get, routed to it
    automatically, share of those right, share of its own requests routed to it automatically)."""
    rows = []
    for u in sorted(set(gold) | set(routed_to)):
        mine, sent = gold == u, auto & (routed_to == u)
        rows.append((str(u), int(mine.sum()), int(sent.sum()),
                     float(right[sent].mean()) if sent.any() else float("nan"),
                     float((sent & right).sum() / max(1, mine.sum()))))
    return rows


def _calibration(conf: np.ndarray, right: np.ndarray) -> list[tuple[str, int, float, float]]:
    edges = [0.0, 0.3, 0.5, 0.7, 0.9, 0.97, 1.01]
    rows = []
    for lo, hi in pairwise(edges):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            rows.append((f"[{lo:.2f}, {min(hi, 1.0):.2f})", int(m.sum()),
                         float(conf[m].mean()), float(right[m].mean())))
    return rows


def render(cv: list[dict[str, Any]], test: dict[str, Any], n_train: int,
           taxonomy: Taxonomy) -> str:
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    lines = ["# 识别结果（自动生成：`python -m tools.recognition evaluate`）", "",
             f"标注集：训练部分 {n_train} 条，留出测试部分 {test['n']} 条（按事项划分，测试事项从未参与训练）。", "",
             "## 1. 交叉验证（训练部分，5 折，按事项分组）", "",
             "| 模型 | 特征 | 小类准确率 | 小类 macro-F1 | 大类准确率 | 用时 s |",
             "|---|---|---|---|---|---|"]
    for r in sorted(cv, key=lambda r: -r["macro_f1"]):
        lines.append(f"| {r['model']} | {r['features']} | {pct(r['accuracy'])} | "
                     f"{r['macro_f1']:.3f} | {pct(r['category_accuracy'])} | {r['seconds']:.1f} |")
    t = test
    lines += ["", "## 2. 上线模型在留出测试部分", "",
              f"- 小类准确率 {pct(t['accuracy'])}，macro-F1 {t['macro_f1']:.3f}；"
              f"大类准确率 {pct(t['category_accuracy'])}；派往单位正确 {pct(t['unit_accuracy'])}",
              f"- 诉求类型准确率 {pct(t['type_accuracy'])}；紧急程度准确率 {pct(t['urgency_accuracy'])}；"
              f"紧急召回 {pct(t['urgent_recall'])}",
              f"- 自动派单阈值 {t['threshold']:.3f}（只读训练部分的折外预测：按事项重抽样，阈值以上派往单位正确"
              f"≥ 95 % 的把握达 {pct(t['confidence'])} 的最低置信度；留出部分不参与；"
              "置信度为派往同一承办单位的各小类概率之和）："
              f"自动派单 {pct(t['auto_share'])}，其中派往单位正确 {pct(t['auto_unit_accuracy'])}"
              f"（小类也对 {pct(t['auto_subcategory_accuracy'])}）；"
              f"需人工 {pct(1 - t['auto_share'])}",
              f"- 对照：同一阈值只看最可能小类的概率（本次之前的做法）：自动派单 "
              f"{pct(t['auto_share_by_subcategory'])}，其中派往单位正确 "
              f"{pct(t['auto_unit_accuracy_by_subcategory'])}",
              f"- 含第二件事项（“另外……”）的 {t['multi_matter']} 条中 {t['multi_matter_capped']} 条"
              "因第二件事项归别的单位而转人工（由派单员定主办、协办）；若路由表改为 `second_matter: lead`"
              f"（派给第一件事项的单位，由其转交或申请协办）：自动派单 {pct(t['auto_share_lead'])}，"
              f"其中派往单位正确 {pct(t['auto_unit_accuracy_lead'])}",
              f"- 对照（未采用）：每个承办单位各用一个阈值（同样只读训练部分折外预测）：自动派单 "
              f"{pct(t['auto_share_per_unit_thresholds'])}，其中派往单位正确 "
              f"{pct(t['auto_unit_accuracy_per_unit_thresholds'])}",
              f"- 权责清单（`data/responsibilities.json`，权重 {t['list_weight']:g}、冲突规则 "
              f"`{t['list_conflict']}`、与分类单位不一致时 `{t['list_disagreement']}`（`cap`：转人工）；"
              "权重 1 且两条规则均为 `ignore` 即只在派单理由中显示，见 docs/recognition.md）："
              f"{t['list_matched']} 条命中清单短语"
              f"（其中 {t['list_conflicting']} 条分属不同单位，{t['list_disagreeing']} 条只指向分类以外的单位）。不用清单时（阈值 "
              f"{t['without_list']['threshold']:.3f}）：自动派单 {pct(t['without_list']['auto_share'])}，"
              f"其中派往单位正确 {pct(t['without_list']['auto_unit_accuracy'])}，需人工 "
              f"{pct(1 - t['without_list']['auto_share'])}；派往单位正确（全部）"
              f"{pct(t['without_list']['unit_accuracy'])}；每条 "
              f"{t['without_list']['per_text_ms']:.3f} ms CPU，用清单 "
              f"{t['without_list']['per_text_ms_with_list']:.3f} ms",
              f"- 成本：模型加载 {t['load_seconds'] * 1000:.0f} ms；每条 {t['per_text_ms']:.3f} ms CPU；"
              f"进程 RSS {t['rss_mb_after_load']:.0f} MB（本评估进程含 scikit-learn；服务内的成本见 "
              "`python -m tools.recognition cost`）",
              f"- 抽样误差（按事项重抽样 {t['by_matter']['matters']} 个测试事项，95 % 区间）：自动派单 "
              f"{pct(t['by_matter']['auto_share_lo'])}–{pct(t['by_matter']['auto_share_hi'])}，其中派往单位正确 "
              f"{pct(t['by_matter']['auto_right_lo'])}–{pct(t['by_matter']['auto_right_hi'])}；另抽一批同样多的事项，"
              f"正确率低于 95 % 的概率约 {pct(t['by_matter']['below_target'])}",
              "- 自动派错的测试事项（事项、应派单位、派往、条数）："
              + ("；".join(f"{c} {g}→{r} {n}" for c, g, r, n in t["wrong_matters"]) or "无"),
              *_render_fresh(t["fresh"], t["threshold"]), _render_third(t["third"]), "",
              "### 各大类 F1", "", "| 大类 | F1 |", "|---|---|"]
    for c, f in t["category_f1"].items():
        lines.append(f"| {taxonomy.category_names[c]} | {f:.3f} |")
    lines += ["", "### 各承办单位（属地：县区分平台）", "",
              "| 单位 | 应派条数 | 自动派给它 | 其中正确 | 它的诉求中自动派对 |", "|---|---|---|---|---|"]
    for u, n, sent, prec, covered in t["units"]:
        lines.append(f"| {u} | {n} | {sent} | {pct(prec) if sent else '—'} | {pct(covered)} |")
    lines += ["", "### 各小类 F1", "", "| 小类 | F1 |", "|---|---|"]
    for s, f in t["subcategory_f1"].items():
        lines.append(f"| {taxonomy.label_zh(s)} | {f:.3f} |")
    cats = t["categories"]
    short = [taxonomy.category_names[c][:2] for c in cats]
    lines += ["", "### 大类混淆矩阵（行：标注，列：预测）", "",
              "| | " + " | ".join(short) + " |", "|---" * (len(cats) + 1) + "|"]
    for g, name in zip(cats, short, strict=True):
        cells = [str(t["confusion"].get((g, p), "")) for p in cats]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### 校准（置信度分段：条数、平均置信度、实际正确率）", "",
              "| 置信度 | 条数 | 平均置信度 | 小类正确率 |", "|---|---|---|---|"]
    for rng, n, c, a in t["calibration"]:
        lines.append(f"| {rng} | {n} | {c:.3f} | {pct(a)} |")
    return "\n".join(lines) + "\n"


def _render_fresh(f: dict[str, Any], threshold: float) -> list[str]:
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    b, p = f["by_matter"], f["pooled_by_matter"]
    return [
        f"- 第二留出部分（`tools/recognition/fresh.py`：{f['n']} 条，每条一个事项，不用生成器的模板，"
        f"与训练事项无近似重复；其中含第二件事项 {f['multi_matter']} 条）：小类准确率 {pct(f['accuracy'])}，"
        f"派往单位正确 {pct(f['unit_accuracy'])}；同一阈值 {threshold:.3f} 下自动派单 {pct(f['auto_share'])}，"
        f"其中派往单位正确 {pct(f['auto_unit_accuracy'])}（95 % 区间 {pct(b['auto_right_lo'])}–"
        f"{pct(b['auto_right_hi'])}），需人工 {pct(1 - f['auto_share'])}；自动派错："
        + ("；".join(f"{c} {g}→{r}" for c, g, r in f["wrong"]) or "无"),
        f"- 两部分合计 {f['pooled_n']} 条（{p['matters']} 个事项）：自动派单 {pct(f['pooled_auto_share'])}，"
        f"其中派往单位正确 {pct(f['pooled_auto_unit_accuracy'])}（按事项重抽样 95 % 区间 "
        f"{pct(p['auto_right_lo'])}–{pct(p['auto_right_hi'])}）。第二部分的文本短而单一，比生成的部分"
        "容易得多：两部分分别报告，合计只作参考",
    ]


def _render_third(f: dict[str, Any]) -> str:
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    b, p = f["by_matter"], f["pooled_by_matter"]
    return (f"- 第三留出部分（`tools/recognition/third.py`，第 9 轮：{f['n']} 条，每条一个事项）：派往单位正确 "
            f"{pct(f['unit_accuracy'])}；自动派单 {pct(f['auto_share'])}，其中派往单位正确 "
            f"{pct(f['auto_unit_accuracy'])}（95 % 区间 {pct(b['auto_right_lo'])}–{pct(b['auto_right_hi'])}），"
            f"需人工 {pct(1 - f['auto_share'])}；三部分合计 {f['pooled_n']} 条（{p['matters']} 个事项）："
            f"自动派单 {pct(f['pooled_auto_share'])}，其中派往单位正确 {pct(f['pooled_auto_unit_accuracy'])}"
            f"（95 % 区间 {pct(p['auto_right_lo'])}–{pct(p['auto_right_hi'])}）；模型之间的比较见第 5 节")


def evaluate(write: bool = True) -> str:
    taxonomy = load_taxonomy()
    train, test = split(load_labelled_requests())
    figures = held_out(test, taxonomy)  # first: RSS and load time before scikit-learn fits
    cv = cross_validate(train, taxonomy)
    text = render(cv, figures, len(train), taxonomy)
    if write:
        RESULTS.write_text(text + _kept_sections(), "utf-8")
    return text


KEPT_FROM = "\n## 3. "


def _kept_sections() -> str:
    """The sections measured by other commands (section 3 on: `demo-month`), written by hand
    from their output: kept when the generated part is written again."""
    old = RESULTS.read_text("utf-8") if RESULTS.exists() else ""
    at = old.find(KEPT_FROM)
    return old[at:] if at >= 0 else ""
