import pytest

from services.sla.domain.supervision import (
    EscalationCapError,
    EscalationNotDueError,
    NotAddressedError,
    SupervisionAlreadyAnsweredError,
    SupervisionClosedError,
    SupervisionError,
    SupervisionOrder,
    escalation_due,
    overdue_order_key,
)


@pytest.fixture
def order(policy, calendar, sh):
    return SupervisionOrder.issue(
        policy, calendar, ticket_id="T-1", order_key="manual:1", unit="城管局", kind="manual",
        issued_by="督查员王某", reason="市民多次来电催办", at=sh("2024-11-08 10:00"),
    )


def test_issue_sets_answer_deadline_and_id(order, policy, sh):
    assert order.id == SupervisionOrder.create_id("T-1", "manual:1")
    assert order.answer_due_at.date().isoformat() == "2024-11-11"  # next working day (Mon)
    assert escalation_due(order, policy, sh("2024-11-11 23:00")) is None


def test_unanswered_order_escalates_to_parent_and_office(order, policy, calendar, sh):
    with pytest.raises(EscalationNotDueError, match="not yet late"):
        order.escalate(policy, calendar, parent_unit="市政府", at=sh("2024-11-11 12:00"))
    assert escalation_due(order, policy, sh("2024-11-12 08:00")) is not None
    order.escalate(policy, calendar, parent_unit="市政府", at=sh("2024-11-12 08:00"))
    assert order.addressees == ["城管局", "市政府", "督查室"] and order.level == 1
    order.escalate(policy, calendar, parent_unit="市政府", at=sh("2024-11-14 08:00"))
    with pytest.raises(EscalationCapError, match="max 2"):
        order.escalate(policy, calendar, parent_unit="市政府", at=sh("2024-11-20 08:00"))
    assert escalation_due(order, policy, sh("2024-11-20 08:00")) is None


def test_answer_and_close(order, sh):
    with pytest.raises(NotAddressedError, match="addressed to 城管局"):
        order.answer_order(unit="房产局", text="已处理", at=sh("2024-11-08 11:00"))
    order.answer_order(unit="城管局", text="已安排清运，明日完成", at=sh("2024-11-08 11:00"))
    with pytest.raises(SupervisionAlreadyAnsweredError):
        order.answer_order(unit="城管局", text="again", at=sh("2024-11-08 12:00"))
    order.close(closed_by="督查员王某", note="答复属实", at=sh("2024-11-09 09:00"))
    with pytest.raises(SupervisionClosedError):
        order.close(closed_by="x", note="y", at=sh("2024-11-09 10:00"))
    names = [type(e).__name__ for e in order.collect_events()]
    assert names == ["Issued", "Answered", "Closed"]


def test_automatic_order_key_is_one_per_missed_deadline(order, sh):
    key = overdue_order_key(1, sh("2024-11-11 23:59"))
    assert SupervisionOrder.create_id("T-1", key) == SupervisionOrder.create_id("T-1", key)
    assert key != overdue_order_key(2, sh("2024-11-11 23:59"))


def test_bad_issue_is_refused(policy, calendar, sh):
    with pytest.raises(SupervisionError, match="kind"):
        SupervisionOrder.issue(policy, calendar, ticket_id="T", order_key="k", unit="u",
                               kind="other", issued_by="s", reason="r", at=sh("2024-11-08 10:00"))
    with pytest.raises(SupervisionError, match="say why"):
        SupervisionOrder.issue(policy, calendar, ticket_id="T", order_key="k", unit="u",
                               kind="manual", issued_by="s", reason=" ", at=sh("2024-11-08 10:00"))
