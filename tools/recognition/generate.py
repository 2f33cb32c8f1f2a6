"""The generated labelled set: reproducible requests in the ways Fuyang's citizens write.

    python -m tools.recognition generate   # writes services/dispatch/data/labelled_requests.jsonl

Every matter of `banks.py` is written out several times, each time by another channel (12345
hotline operator's summary, WeChat message, mayor's mailbox letter, web form), in another
register (colloquial or written), at another place (a county, a town or its short form, a
village, an estate, a landmark, or no place at all) and sometimes with a second, lesser matter
("另外…"). One matter in four (by its index in the bank) is held out: its records form the
test part, never trained on, so the test measures matters the model has not seen phrased.
The matters of `banks.TRAIN_ONLY` are written last and are always train.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

from services.dispatch.domain.datafiles import load_json
from tools.recognition.banks import (
    BANKS,
    CIRCUMSTANCES,
    DEFAULT_URGENCY,
    LATER_SUBCATEGORIES,
    TRAIN_ONLY,
)

SEED = 20261205
PER_MATTER = 4
OUT = Path("services/dispatch/data/labelled_requests.jsonl")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
VILLAGE_TAILS = ["庄村", "楼村", "湖村", "集村", "寨村", "营村", "圩村", "店村"]
ESTATES = ["阳光花园", "幸福家园", "颍河人家", "清华苑", "东方名城", "金色港湾", "书香门第",
           "富丽华庭", "泉水湾", "翡翠城", "锦绣江南", "和谐小区", "新城花苑", "润园小区"]
OPENERS_HOTLINE = ["市民来电反映：", "来电人反映，", "市民来电称：", "来电反映：", "群众来电："]
OPENERS_MAIL = ["尊敬的市长您好：", "市长您好！", "尊敬的领导：您好。", "您好，"]
TAILS = {
    "complaint": ["希望有关部门尽快处理。", "已经反映过好几次了，一直没人管。", "请相关部门调查处理。",
                  "要求给个说法。", "希望早日解决。", ""],
    "help": ["希望政府帮帮我们。", "请求相关部门帮忙解决。", "实在没办法了才打这个电话。", ""],
    "consultation": ["请给个答复。", "谢谢。", "麻烦告知一下。", ""],
    "suggestion": ["望采纳。", "希望有关部门考虑。", "谢谢！", ""],
    "praise": ["特此表扬。", "请转达我们的谢意。", "这样的服务值得点赞。", ""],
    "report": ["请尽快查处。", "希望执法部门来看看。", "请不要透露我的信息。", ""],
}
WECHAT_TAILS = ["有人管没", "啥时候能解决啊", "真的受不了了", "麻烦看看", "急！", "谢谢啦", ""]


def _places(rng: random.Random) -> list[dict[str, Any]]:
    data = load_json("places.json")
    out = []
    for code, s in data["subdistricts"].items():
        county = code.split(".")[0]
        cname = data["territories"][county]["name"]
        for alias in s["aliases"]:
            if len(alias) < 3:
                continue  # two-character forms are tested by hand-written requests
            out.append({"county": county, "subdistrict": code, "county_name": cname,
                        "town": alias})
    return out


def _place_phrase(rng: random.Random, towns: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(words, facts) for a random place; ("", {}) about a quarter of the time."""
    roll = rng.random()
    if roll < 0.25:
        return "", {}
    p = rng.choice(towns)
    village = rng.choice(SURNAMES) + rng.choice(VILLAGE_TAILS)
    estate = rng.choice(ESTATES)
    county = p["county_name"]
    short_county = county[:-1] if len(county) == 3 else county
    forms = [
        f"{county}{p['town']}{village}", f"{p['town']}{village}", f"{county}{p['town']}",
        f"{short_county}{p['town']}", f"{county}{estate}", f"{p['town']}{estate}",
        f"{county}{p['town']}{estate}",
    ]
    words = rng.choice(forms)
    facts = {"county": p["county"],
             "subdistrict": p["subdistrict"] if p["town"] in words else ""}
    return words, facts


def _fill(text: str, rng: random.Random) -> str:
    return text.replace("{n}", rng.choice("两三四五六")).replace("{m}", rng.choice("两三四"))


def _compose(rng: random.Random, core: str, kind: str, where: str, extra: str) -> tuple[str, str, str]:
    """(title, text, address) in one channel's style."""
    tail = rng.choice(TAILS[kind])
    style = rng.choice(["hotline", "hotline", "wechat", "wechat", "mailbox", "web"])
    address = ""
    if style == "hotline":
        if where and rng.random() < 0.5:
            address, where_text = where, ""
        else:
            where_text = f"{where}，" if where else ""
        text = f"{rng.choice(OPENERS_HOTLINE)}{where_text}{core}。{extra}{tail}"
        return "", text, address
    if style == "wechat":
        lead = rng.choice([f"我在{where}，" if where else "", f"{where}这边" if where else "",
                           f"{where}" if where else ""])
        sep = rng.choice(["，", " ", "！", "。。"])
        text = f"{lead}{core}{sep}{extra}{rng.choice(WECHAT_TAILS)}"
        return "", text.replace("。", rng.choice(["。", "，", " "])), ""
    if style == "mailbox":
        who = f"我是{where}的居民，" if where else rng.choice(["我是一名普通市民，", ""])
        title = f"关于{core[:rng.randint(6, 10)]}的问题" if rng.random() < 0.6 else core[:12]
        text = f"{rng.choice(OPENERS_MAIL)}{who}{core}。{extra}{tail}此致敬礼！"
        return title, text, ""
    title = core[: rng.randint(8, 14)]
    text = f"{where + '：' if where and rng.random() < 0.5 else ''}{core}。{extra}{tail}"
    if where and where not in text:
        address = where
    return title, text, address


NEAR_DUPLICATE = 0.4  # character-bigram Jaccard of two matters' texts


def _bigrams(text: str) -> set[str]:
    letters = "".join(ch for ch in text if ch.isalnum())
    return {letters[i:i + 2] for i in range(len(letters) - 1)}


def near_test(banks: dict[str, list[tuple[str, str, str]]],
              train_only: dict[str, list[tuple[str, str, str]]]) -> set[str]:
    """The train matters (case `sub#k`, `sub#tk` for training-only ones) written almost as a
    test matter is (of any subcategory): set aside, so that the test part measures matters the
    model has not seen phrased (10 of the hand-written ones, e.g. 隔壁养的狗整夜叫 twice, and
    学校食堂的饭菜有异味 under two labels)."""
    test = [_bigrams(c[2]) for cores in banks.values() for k, c in enumerate(cores) if k % 4 == 3]
    candidates = [(f"{sub}#{k}", c[2]) for sub, cores in banks.items()
                  for k, c in enumerate(cores) if k % 4 != 3]
    candidates += [(f"{sub}#t{k}", c[2]) for sub, cores in train_only.items()
                   for k, c in enumerate(cores)]
    out = set()
    for case, text in candidates:
        mine = _bigrams(text)
        if any(len(mine & t) / len(mine | t) >= NEAR_DUPLICATE for t in test):
            out.add(case)
    return out


@cache
def matter_families() -> dict[str, str]:
    """Case -> the family of matters written almost alike (union of near-duplicate pairs, of
    any subcategory): cross-validation keeps a family in one fold, else a matter's twin in the
    training folds makes the out-of-fold figures, and the threshold read from them, optimistic."""
    texts = {f"{sub}#{k}": c[2] for sub, cores in BANKS.items() for k, c in enumerate(cores)}
    texts |= {f"{sub}#t{k}": c[2] for sub, cores in TRAIN_ONLY.items()
              for k, c in enumerate(cores)}
    cases = list(texts)
    grams = {c: _bigrams(texts[c]) for c in cases}
    family = {c: c for c in cases}

    def root(c: str) -> str:
        while family[c] != c:
            family[c] = family[family[c]]
            c = family[c]
        return c

    for i, a in enumerate(cases):
        for b in cases[i + 1:]:
            if len(grams[a] & grams[b]) / len(grams[a] | grams[b]) >= NEAR_DUPLICATE:
                family[root(a)] = root(b)
    return {c: root(c) for c in cases}


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    taxonomy = load_json("taxonomy.json")
    parent = {s["code"]: c["code"] for c in taxonomy["categories"] for s in c["subcategories"]}
    towns = _places(rng)
    # second matters are drawn from the banks written before session 8, so that adding a
    # subcategory leaves every earlier record (the test part's included) as it was
    every_core = [(sub, core) for sub, cores in BANKS.items() if sub not in LATER_SUBCATEGORIES
                  for core in cores]
    records = []
    # The training-only matters come last, so that every record before them (the test part
    # included) is what it was without them.
    banks = [(sub, cores, "") for sub, cores in BANKS.items()]
    banks += [(sub, cores, "t") for sub, cores in TRAIN_ONLY.items()]
    aside = near_test(BANKS, TRAIN_ONLY)
    for sub, cores, only_train in banks:
        for k, (kind, urgency, text) in enumerate(cores):
            for _ in range(PER_MATTER):
                where, facts = _place_phrase(rng, towns)
                extra = ""
                if rng.random() < 0.1:  # a lesser second matter
                    other_sub, other = rng.choice(every_core)
                    if parent[other_sub] != parent[sub]:
                        extra = f"另外，{_fill(other[2], rng)}。"
                title, body, address = _compose(rng, _fill(text, rng), kind, where, extra)
                grade = urgency or ("simple" if kind == "consultation"
                                    else DEFAULT_URGENCY.get(sub, "general"))
                records.append({
                    "case": f"{sub}#{only_train}{k}",
                    "split": ("test" if k % 4 == 3 and not only_train
                              else "set-aside" if f"{sub}#{only_train}{k}" in aside
                              else "train"),
                    "text": "\n".join(x for x in (title, body) if x),
                    "category": parent[sub], "subcategory": sub, "type": kind,
                    "urgency": grade, "county": facts.get("county", ""),
                    "subdistrict": facts.get("subdistrict", ""), "address": address,
                    "multi_topic": bool(extra),
                })
    return _with_circumstances(records, random.Random(seed + 1))


CIRCUMSTANCE_SHARE = 0.35


def _with_circumstances(records: list[dict[str, Any]],
                        rng: random.Random) -> list[dict[str, Any]]:
    """A circumstance sentence (`banks.CIRCUMSTANCES`) in a third of the train records, after
    the first sentence or at the end; drawn from a random stream of its own, so the test part
    is the same with or without it."""
    for r in records:
        if r["split"] != "train" or rng.random() >= CIRCUMSTANCE_SHARE:
            continue
        said = rng.choice(CIRCUMSTANCES)
        text = r["text"]
        cut = max(text.rfind("\n") + 1, 0)
        stop = text.find("。", cut)
        if stop >= 0 and rng.random() < 0.6:
            r["text"] = f"{text[:stop + 1]}{said}。{text[stop + 1:]}"
        else:
            r["text"] = f"{text}{'' if text.endswith(('。', '！', '，', ' ')) else '，'}{said}"
        r["circumstance"] = True
    return records


def write(path: Path = OUT, seed: int = SEED) -> int:
    records = generate(seed)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(records)
