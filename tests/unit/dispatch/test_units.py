from __future__ import annotations

import re

import pytest
from eventsourcing.application import Application

from services.dispatch.domain.units import (
    InvalidUnitCodeError,
    InvalidUnitParentError,
    UnitAlreadyRegisteredError,
    UnitDirectory,
    UnitKind,
    UnitRegistryError,
    UnitRetiredError,
    UnknownUnitError,
    load_unit_records,
)

COUNTIES = {"yingzhou", "yingdong", "yingquan", "jieshou", "linquan", "taihe", "funan", "yingshang"}


def test_the_registry_is_one_plus_eight_plus_n(registry):
    assert [u.code for u in registry.of_kind(UnitKind.MASTER)] == ["city"]
    assert {u.code for u in registry.of_kind(UnitKind.COUNTY)} == COUNTIES
    assert {"chengnan", "fetdz"} <= {u.code for u in registry.of_kind(UnitKind.ZONE)}
    departments = {u.code for u in registry.of_kind(UnitKind.DEPARTMENT)}
    assert {
        "urban-mgmt",
        "market-reg",
        "housing",
        "transport",
        "ecology",
        "hrss",
        "education",
        "health",
        "natural-resources",
        "water-affairs",
        "police",
        "civil-affairs",
        "agriculture",
        "petitions",
    } <= departments
    assert {"power", "gas", "water-supply"} <= {u.code for u in registry.of_kind(UnitKind.UTILITY)}


def test_every_county_has_several_subdistricts_that_dispatch_under_it(registry):
    for county in COUNTIES:
        subs = registry.children(county)
        assert len(subs) >= 5, county
        assert all(s.kind is UnitKind.SUBDISTRICT and s.territory == county for s in subs)
    assert registry.get("yingzhou.qinghe").name_zh == "颍州区清河街道"
    assert registry.ancestors("yingzhou.qinghe") == ["yingzhou", "city"]


def test_unit_codes_make_legal_topic_names(registry):
    for unit in registry:
        assert re.fullmatch(r"assignments\.[a-z0-9.-]+", unit.topic), unit.code


def test_seeding_the_directory_reproduces_the_data_file(registry):
    directory = UnitDirectory()
    directory.seed(load_unit_records())
    assert directory.registry == registry
    assert directory.id == UnitDirectory.create_id()


def test_the_registry_has_history_state_at_version_n():
    app = Application()
    directory = UnitDirectory()
    directory.seed(load_unit_records())
    seeded_version = directory.version
    directory.rename(code="yingzhou.qinghe", name_zh="颍州区清河街道（新）")
    directory.register(
        code="chengnan.xinqiao",
        name_zh="城南新区新桥社区",
        kind="subdistrict",
        parent="chengnan",
        territory="chengnan",
    )
    directory.move(code="chengnan.xinqiao", parent="yingzhou", territory="yingzhou")
    directory.retire(code="chengnan.xinqiao", reason="并入颍州区清河街道")
    app.save(directory)

    then = app.repository.get(directory.id, version=seeded_version).registry
    now = app.repository.get(directory.id).registry
    assert then.get("yingzhou.qinghe").name_zh == "颍州区清河街道"
    assert "chengnan.xinqiao" not in then
    assert now.get("yingzhou.qinghe").name_zh == "颍州区清河街道（新）"
    assert now.get("chengnan.xinqiao").retired and now.get("chengnan.xinqiao").parent == "yingzhou"
    assert not now.is_active("chengnan.xinqiao")
    names = [type(e).__name__ for e in app.repository.event_store.get(directory.id)][-4:]
    assert names == ["UnitRenamed", "UnitRegistered", "UnitMoved", "UnitRetired"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda d: d.register(code="Bad Code", name_zh="x", kind="department", parent="city"),
            InvalidUnitCodeError,
        ),
        (
            lambda d: d.register(code="city", name_zh="x", kind="master", parent=None),
            UnitAlreadyRegisteredError,
        ),
        (
            lambda d: d.register(code="x", name_zh="x", kind="department", parent=None),
            InvalidUnitParentError,
        ),
        (
            lambda d: d.register(code="x", name_zh="x", kind="subdistrict", parent="urban-mgmt"),
            InvalidUnitParentError,
        ),
        (
            lambda d: d.register(code="x", name_zh="x", kind="department", parent="nowhere"),
            UnknownUnitError,
        ),
        (lambda d: d.move(code="yingzhou", parent="yingzhou.qinghe"), InvalidUnitParentError),
        (lambda d: d.retire(code="yingzhou", reason="x"), UnitRegistryError),
    ],
)
def test_illegal_registry_changes_are_refused(change, error):
    directory = UnitDirectory()
    directory.seed(load_unit_records())
    with pytest.raises(error):
        change(directory)


def test_a_retired_unit_cannot_be_renamed():
    directory = UnitDirectory()
    directory.seed(load_unit_records())
    directory.retire(code="petitions", reason="职能划转")
    with pytest.raises(UnitRetiredError):
        directory.rename(code="petitions", name_zh="x")
