"""EventContext's own __init__ (a frozen dataclass made without object.__setattr__ a field)
behaves as the dataclass's generated one did."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from backbone.store import CONTEXT_FIELDS, EventContext


def test_the_fields_defaults_and_order_are_the_dataclasss():
    assert tuple(f.name for f in dataclasses.fields(EventContext)) == CONTEXT_FIELDS
    assert dataclasses.asdict(EventContext()) == {
        "ticket_id": "", "ticket_code": "", "trace_id": "", "causation_id": "",
        "actor_role": "system", "actor_id": "", "actor_unit": ""}
    by_position = EventContext("t", "c", "tr", "ca", "r", "i", "u")
    by_name = EventContext(ticket_id="t", ticket_code="c", trace_id="tr", causation_id="ca",
                           actor_role="r", actor_id="i", actor_unit="u")
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert [getattr(by_name, name) for name in CONTEXT_FIELDS] == ["t", "c", "tr", "ca", "r",
                                                                   "i", "u"]
    assert EventContext(ticket_id="t") != EventContext(ticket_id="u")
    assert repr(EventContext(ticket_id="t")) == (
        "EventContext(ticket_id='t', ticket_code='', trace_id='', causation_id='',"
        " actor_role='system', actor_id='', actor_unit='')")
    with pytest.raises(TypeError):
        EventContext(ticket="t")  # type: ignore[call-arg]


def test_it_stays_frozen_and_copies_as_before():
    ctx = EventContext(ticket_id="t", trace_id="tr")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.ticket_id = "u"  # type: ignore[misc]
    assert dataclasses.replace(ctx, actor_id="a") == EventContext(ticket_id="t", trace_id="tr",
                                                                  actor_id="a")
    assert pickle.loads(pickle.dumps(ctx)) == ctx
    assert copy.deepcopy(ctx) == ctx
