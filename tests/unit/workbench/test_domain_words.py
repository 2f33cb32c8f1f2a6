"""The staff's and the citizens' pages say the domain's words (MISSION.md, "Words we use"): a
ticket code is 诉求码 (the workbench said 工单编号, the hall and the citizen's page 诉求码), a
bounce-back is 退单 (the workbench said 退回, which is also what a returned reply is called),
the ledger is 台账 (the workbench said 账本). Only visible text: ids, classes and API fields
stay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.workbench.application.export import COLUMNS
from services.workbench.domain.words import STATUS_ZH

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "services/workbench/entrypoints/static/app.js",
         ROOT / "services/workbench/entrypoints/static/app.html",
         ROOT / "services/workbench/entrypoints/static/login.html",
         ROOT / "services/intake/entrypoints/pages/my_requests.html",
         ROOT / "services/feedback/entrypoints/pages/hall.html",
         ROOT / "services/feedback/entrypoints/pages/rate.html"]
NOT_OUR_WORDS = ["工单编号", "工单号", "地点或编号", "已退回", '"退回"', "可退回", "退回原因", "账本"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_say_the_domains_words(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert [w for w in NOT_OUR_WORDS if w in text] == []


def test_the_workbench_names_a_bounce_back_and_a_ticket_code_as_the_domain_does() -> None:
    js = (ROOT / "services/workbench/entrypoints/static/app.js").read_text(encoding="utf-8")
    assert 'bounced_back: "已退单"' in js and 'AssignmentBouncedBack: "退单"' in js
    assert STATUS_ZH["bounced_back"] == "已退单"
    assert COLUMNS[0][0] == "诉求码"  # the export's first column


def test_the_knowledge_base_tells_callers_the_code_by_its_name() -> None:
    data = json.loads((ROOT / "services/workbench/data/knowledge.json").read_text("utf-8"))
    entries = data if isinstance(data, list) else next(iter(data.values()))
    answers = " ".join(e.get("answer", "") for e in entries)
    assert "诉求码" in answers and "工单编号" not in answers and "工单号" not in answers
