"""What an outside auditor hands us or the standalone verifier: ticket references checked
before they reach a query, and a served history checked by the tool (chain + proofs)."""

from __future__ import annotations

import copy
import importlib.util
from datetime import UTC, datetime
from typing import Any

import pytest

from services.audit.application.histories import TicketRefError, ticket_ref
from services.audit.domain.bundle import entry_json
from services.audit.domain.chain import InMemoryLedger
from services.audit.domain.checkpoint import Checkpoint, CheckpointSigner
from tests.unit.audit.test_standalone_verifier import TOOL

LEDGER_ID = "minsheng.example/audit"


@pytest.mark.parametrize("bad", ["", "   ", "FY\x00", "a\nb", "\t", "x\x7f", "x" * 201])
def test_a_ticket_reference_with_control_characters_or_out_of_bounds_is_refused(bad):
    with pytest.raises(TicketRefError):
        ticket_ref(bad)


@pytest.mark.parametrize("good", ["FY-231120-00042-T", " 3f1c0a7e-uuid ", "诉求码-1", "x" * 200])
def test_a_ticket_reference_is_kept_trimmed(good):
    assert ticket_ref(good) == good.strip()


@pytest.mark.parametrize("typed", ["fy-231120-00042-t", "FY 231120 00042 T", "fy231120.00042t",
                                   " Fy-231120-00042-T "])
def test_a_ticket_code_is_found_however_it_was_typed(typed):
    """Intake, the workbench and feedback take a code in any case and with or without its
    hyphens (as it is read out over the phone); audit answered 404 to the same code."""
    assert ticket_ref(typed) == "FY-231120-00042-T"


def test_a_ticket_id_is_not_taken_for_a_code():
    ticket_id = "4c04b384-4c16-5c5c-9f7c-166b95d8f05d"
    assert ticket_ref(ticket_id) == ticket_id


def load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("verify_ledger_tool_h", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    """A history as GET /v1/tickets/{code}/history?proofs=true serves it."""
    signer = CheckpointSigner.generate("minsheng-audit")
    ledger = InMemoryLedger()
    for n in range(23):
        ledger.record(topic="tickets.events", partition=n % 2, offset=n // 2,
                      ticket_id=f"t-{n % 3}", event=f"事件 {n}".encode())
    note = signer.sign(Checkpoint(LEDGER_ID, 23, ledger.tree.root(23),
                                  datetime(2023, 11, 23, tzinfo=UTC)))
    entries = []
    for e in ledger.entries:
        if e.ticket_id != "t-1":
            continue
        view = entry_json(e)
        view["raw"] = view.pop("event")
        view["inclusion_proof"] = {"tree_size": 23, "path": [
            h.hex() for h in ledger.tree.inclusion_proof(e.ledger_seq, 23)]}
        entries.append(view)
    return {"ticket_id": "t-1", "entries": entries, "checkpoint": {"tree_size": 23, "note": note},
            "key": signer.verifier.vkey()}


def test_a_served_history_checks_out_and_a_dropped_first_entry_does_not(served):
    tool = load_tool()
    key = tool.load_key(served["key"])
    assert "8 entries chained from genesis" in tool.check(served, key, LEDGER_ID)
    headless = copy.deepcopy(served)
    del headless["entries"][0]
    with pytest.raises(tool.Invalid, match="ticket seq"):
        tool.check(headless, key, LEDGER_ID)
    with pytest.raises(tool.Invalid, match="JSON object"):
        tool.check([served], key, LEDGER_ID)


@pytest.mark.parametrize("typed", ["13912345678", "王秀英", "340102199001011234"])
def test_a_reference_that_may_be_personal_data_is_not_repeated_in_the_error(typed):
    """Error bodies end up in logs and proxies: a phone number typed where a code goes is not
    quoted back (backbone.privacy.echo), a code or an id still is."""
    from services.audit.application.histories import TicketNotInLedgerError, not_in_ledger
    error = not_in_ledger(typed)
    assert isinstance(error, TicketNotInLedgerError) and typed not in str(error)
    assert "FY-231120-00042-T" in str(not_in_ledger("FY-231120-00042-T"))
