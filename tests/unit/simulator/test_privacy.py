"""Personal data appears only where it is meant to: contact fields, and texts flagged as carrying it."""

import json
import re

from tools.simulator import TEXT_FIELDS, SimPlan
from tools.simulator.city import load_data
from tools.simulator.model import SUBMIT
from tools.simulator.people import credit_check_char, id_check_char

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Z])\d{17}[\dX](?![0-9A-Z])")
ADDRESS = re.compile(r"\d+栋\d+单元\d+室")
CONTACT_FIELDS = {"contact", "caller_number", "caller_name", "sender", "name", "phone", "address"}


def _contact_phone(request: dict) -> str | None:
    for holder in (request.get("contact"), request.get("sender")):
        if holder:
            return holder["phone"]
    return request.get("caller_number") or request.get("phone")


def _contact_name(request: dict) -> str | None:
    for holder in (request.get("contact"), request.get("sender")):
        if holder:
            return holder["name"]
    return request.get("caller_name") or request.get("name")


def _submits(plan: SimPlan):
    return [a for a in plan.actions if a.kind == SUBMIT]


def test_texts_carry_personal_data_only_when_planted(month: SimPlan) -> None:
    planted = {"phone": 0, "id_number": 0, "address": 0}
    for action in _submits(month):
        truth = month.truths[action.ticket]
        request = action.payload["request"]
        text = "\n".join(request[f] for f in TEXT_FIELDS[action.payload["channel"]])
        phones, ids, addresses = PHONE.findall(text), ID_NUMBER.findall(text), ADDRESS.findall(text)
        assert bool(phones) == ("phone" in truth.pii_in_text), (truth.ticket, text)
        assert bool(ids) == ("id_number" in truth.pii_in_text), (truth.ticket, text)
        assert bool(addresses) == ("address" in truth.pii_in_text), (truth.ticket, text)
        assert set(phones) <= {_contact_phone(request)}
        name = _contact_name(request)
        if name and len(name) == 3:  # two-character names can occur inside place names by chance
            assert (name in text) == ("name" in truth.pii_in_text), (truth.ticket, text)
        for kind in planted:
            planted[kind] += kind in truth.pii_in_text
    # Enough of each kind for intake's privacy protection to be exercised.
    assert planted["phone"] > 200 and planted["id_number"] > 50 and planted["address"] > 300


def test_nothing_outside_contact_fields_and_texts_looks_personal(month: SimPlan) -> None:
    for action in month.actions:
        payload = dict(action.payload)
        if action.kind == SUBMIT:
            channel = payload["channel"]
            payload["request"] = {k: v for k, v in payload["request"].items()
                                  if k not in CONTACT_FIELDS and k not in TEXT_FIELDS[channel]}
        flat = json.dumps(payload, ensure_ascii=False)
        assert not PHONE.search(flat) and not ID_NUMBER.search(flat) and not ADDRESS.search(flat), flat


def test_made_up_identifiers_are_well_formed(month: SimPlan) -> None:
    prefixes = set(load_data("city.json")["phone_prefixes"])
    regions = set(load_data("city.json")["id_region_codes"].values())
    for action in _submits(month):
        request = action.payload["request"]
        phone = _contact_phone(request)
        if phone:
            assert phone[:3] in prefixes and len(phone) == 11 and phone.isdigit()
        text = json.dumps(request, ensure_ascii=False)
        for number in ID_NUMBER.findall(text):
            assert number[:6] in regions and number[-1] == id_check_char(number[:17])
        contact = request.get("contact") or {}
        if contact.get("credit_code"):
            code = contact["credit_code"]
            assert code[-1] == credit_check_char(code[:17])


def test_check_characters_match_the_standards() -> None:
    # Published worked examples of GB 11643 and GB 32100.
    assert id_check_char("11010519491231002") == "X"
    assert credit_check_char("91350100M000100Y4") == "3"
