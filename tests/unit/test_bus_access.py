"""backbone/bus_access.py against the code: every topic a service's sources name is granted to
it, in the right direction, and nothing else is (the table is read off the code, not guessed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backbone import bus_access as ba

ROOT = Path(__file__).resolve().parents[2]

# what a service's source says -> the topic (without prefix) it names
NAMES = {
    r"lifecycle_topic|self\._?lifecycle\b": ba.LIFECYCLE,
    r"assignment_topic\(|_unit_topic\(": ba.ASSIGNMENTS + "*",
    r"checkpoint_topic": ba.CHECKPOINTS,
    r"own_topics\(|analytics\.surges\.": ba.SURGES + "*",
    r"IdempotentConsumer\(|build_consumer\(|SlaConsumer\(": ba.DEAD_LETTER,  # poison parked
    r"notices_topic": ba.NOTICES,
    r"replies_topic": ba.REPLIES,
    r"calendar_topic": ba.CALENDAR,
}
SEND = re.compile(r"producer\.send(?:_and_wait)?\(\s*([^,]+),")
TOPIC_CALL = re.compile(r'settings\.topic\("([a-z.-]+)"\)')
# the reconciliation names other services' topics to rebuild their translations: no Kafka I/O
NOT_BUS_IO = ("services/audit/application/",)


def _named(text: str) -> set[str]:
    found = {topic for pattern, topic in NAMES.items() if re.search(pattern, text)}
    for name in TOPIC_CALL.findall(text):
        found.add(ba.SURGES + "*" if name.startswith(ba.SURGES) else name)
    return found


def _sources(service: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text()
            for p in sorted((ROOT / "services" / service).rglob("*.py"))
            if not str(p.relative_to(ROOT)).startswith(NOT_BUS_IO)}


@pytest.mark.parametrize("service", sorted(ba.SERVICES))
def test_every_topic_a_service_names_is_granted_and_only_those(service):
    role = ba.SERVICES[service]
    named = set().union(*(_named(t) for t in _sources(service).values()))
    granted = set(role.reads) | set(role.writes) | set(role.creates)
    assert named - granted == set(), f"{service} uses topics its principal may not"
    # the base topics every service ensures at start are DESCRIBE/CREATE only
    assert granted - named == set(), f"{service} is granted topics its code never names"


@pytest.mark.parametrize("service", sorted(ba.SERVICES))
def test_publications_are_writes_and_consumed_topics_are_reads(service):
    role = ba.SERVICES[service]
    checked = 0
    for path, text in _sources(service).items():
        if path.endswith("publications.py"):
            outgoing = _named(" ".join(re.findall(r"Outgoing\(([^,]+),", text)))
            assert outgoing and outgoing <= set(role.writes), path
            checked += 1
        for listed in re.findall(r"topics=\[([^\]]+)\]", text):
            assert _named(listed) and _named(listed) <= set(role.reads), (path, listed)
            checked += 1
        for sent in SEND.findall(text):  # a producer's own send, not through an outbox
            assert _named(sent) and _named(sent) <= set(role.writes), (path, sent)
            checked += 1
    assert checked, f"nothing in {service}'s sources says which way it uses a topic"


def test_a_unit_reads_its_own_topic_and_nothing_else():
    grants = ba.grants_for(ba.unit_principal("yingzhou"), ba.unit_role("yingzhou"), "p.")
    topics = {(g.name, g.operation, g.prefixed) for g in grants if g.resource == "topic"}
    assert topics == {("p.assignments.yingzhou", "READ", False),
                      ("p.assignments.yingzhou", "DESCRIBE", False)}
    assert all(g.operation != "WRITE" for g in grants)


def _group_matches(grant: ba.Grant, group: str) -> bool:
    return group.startswith(grant.name) if grant.prefixed else group == grant.name


def test_no_unit_may_join_another_units_consumer_groups():
    # "unit-yingzhou" as a prefix named the groups of "yingzhou.xihu" too, "unit-housing" those
    # of "housing-fund": a county's system could join a sub-district's group and take its
    # partitions (63 pairs of the registry's units)
    from services.dispatch.domain.units import load_unit_registry

    codes = sorted(u.code for u in load_unit_registry())
    plan = ba.plan(codes, "")
    grants = {code: [g for g in plan.of(ba.unit_principal(code)) if g.resource == "group"]
              for code in codes}
    for code in codes:
        own = [f"minsheng.unit-{code}", f"minsheng.unit-{code}_case-system"]
        assert all(any(_group_matches(g, group) for g in grants[code]) for group in own)
        for other in codes:
            if other == code:
                continue
            theirs = [f"minsheng.unit-{other}", f"minsheng.unit-{other}_case-system",
                      f"minsheng.unit-{other}.case-system", f"minsheng.unit-{other}-desk"]
            assert not any(_group_matches(g, group) for g in grants[code] for group in theirs
                           if not group.startswith(f"minsheng.unit-{code}_")), (code, other)
    assert any(a.startswith(b) and a != b for a in codes for b in codes)  # the overlap is real


def test_no_principal_but_dispatch_and_sla_writes_assignments():
    plan = ba.plan(["yingzhou"], "")
    writers = {g.principal for g in plan.grants
               if g.operation == "WRITE" and g.name.startswith("assignments.")}
    assert writers == {"minsheng-dispatch", "minsheng-sla"}
    lifecycle_writers = {g.principal for g in plan.grants
                         if g.operation == "WRITE" and g.name == ba.LIFECYCLE}
    assert lifecycle_writers == {f"minsheng-{s}" for s in
                                 ("intake", "dispatch", "sla", "feedback", "analytics",
                                  "notifier")}


def test_every_service_that_names_a_topic_has_a_principal():
    packages = sorted(p.name for p in (ROOT / "services").iterdir()
                      if (p / "bootstrap.py").exists())
    naming = [name for name in packages
              if set().union(*(_named(t) for t in _sources(name).values()))]
    assert set(naming) <= set(ba.SERVICES), "a service uses the bus without a principal"
