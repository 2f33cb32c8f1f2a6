"""The driver's pure parts: plan requests -> intake's channel models, units -> dispatch's registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake.domain.channels import parse_channel_input, to_ticket_draft
from tools.simulator import build_plan
from tools.simulator.drive.requests import attachment_bytes, plan_attachments, to_channel_input
from tools.simulator.drive.units import UnitMap, load_registry
from tools.simulator.episodes import DISPUTE_LEAD_NAME


@pytest.fixture(scope="module")
def plan():
    return build_plan(seed=3, days=3, per_day=150)


def _fake_refs(request):
    return [{"sha256": "a" * 64, "kind": "video" if r.get("mime", "").startswith("video") else "image"}
            for r in plan_attachments(request)]


def test_every_planned_submission_fits_intakes_channel_models(plan):
    at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    channels = set()
    for action in plan.actions:
        if action.kind != "submit":
            continue
        body = to_channel_input(action.payload, occurred_at=at,
                                attachment_refs=_fake_refs(action.payload["request"]))
        body.pop("occurred_at")  # intake's own field; checked by its API, not its channel models
        draft = to_ticket_draft(parse_channel_input(body))
        assert draft.idempotency_key.endswith(action.payload["request_id"])
        channels.add(body["channel"])
    assert channels == {"wechat_mini", "wechat_official", "hotline_12345", "mayor_mailbox",
                        "media_hotline", "web"}


def test_anonymous_callers_stay_anonymous(plan):
    hidden = [a for a in plan.actions if a.kind == "submit"
              and a.payload["channel"] == "hotline_12345" and not a.payload["request"]["caller_number"]]
    assert hidden, "the plan has anonymous hotline callers"
    body = to_channel_input(hidden[0].payload, occurred_at=None)
    assert body["anonymous"] is True and "contact" not in body
    assert to_ticket_draft(parse_channel_input(body)).identity is None


def test_attachment_bytes_are_deterministic_and_typed():
    name, mime, data = attachment_bytes({"name": "IMG_1.jpg", "mime": "image/jpeg", "content_seed": 42})
    assert (name, mime) == ("IMG_1.jpg", "image/jpeg") and data[:3] == b"\xff\xd8\xff"
    assert attachment_bytes({"name": "IMG_1.jpg", "mime": "image/jpeg", "content_seed": 42})[2] == data
    assert attachment_bytes({"name": "V.jpg", "mime": "video/mp4", "content_seed": 42})[2][4:8] == b"ftyp"


def test_every_simulated_unit_maps_onto_the_registry(plan):
    units = UnitMap(plan.unit_names, load_registry())
    assert units.unmapped(plan.unit_names) == []
    assert units.registry_code("county.yingzhou") == "yingzhou"
    assert units.registry_code("dept.urban_management") == "urban-mgmt"
    assert units.registry_code("zone.chengnan") == "chengnan"
    lead = next(code for code, name in plan.unit_names.items() if name == DISPUTE_LEAD_NAME)
    assert units.name_of(units.registry_code(lead)).endswith(DISPUTE_LEAD_NAME)
    # Every planned handling unit can be acted for.
    assert all(units.registry_code(t.handling_unit) for t in plan.truths.values())


def test_the_actual_assignee_acts_with_its_own_profile(plan):
    units = UnitMap(plan.unit_names, load_registry())
    assert units.profile_of("taihe") == "often_late"
    assert units.profile_of("urban-mgmt") == "bouncy"
    assert units.profile_of("yingzhou") == "quick"
    assert units.profile_of("police") == "steady"  # a unit the simulator does not model
