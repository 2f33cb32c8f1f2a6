"""The 1+8+N unit registry: who can receive a ticket, and how units hang together.

`UnitRegistry` is an immutable snapshot (a value object) that routing reads. `UnitDirectory`
is the event-sourced aggregate behind it, so that the registry has history: a county that
renames a sub-district or a department that is merged must not rewrite what an auditor sees
for tickets assigned last year (load the directory at version N to get the registry as it was).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.dispatch.domain.datafiles import load_json

PLATFORM_CODE = "city"

# Unit codes end up in Kafka topic names (`assignments.<unit-code>`), whose legal
# characters are [a-zA-Z0-9._-]; we keep to lower case so codes never differ by case only.
_UNIT_CODE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")


class UnitKind(StrEnum):
    MASTER = "master"
    COUNTY = "county"
    SUBDISTRICT = "subdistrict"
    ZONE = "zone"
    DEPARTMENT = "department"
    UTILITY = "utility"


TERRITORIAL_KINDS = frozenset({UnitKind.COUNTY, UnitKind.SUBDISTRICT, UnitKind.ZONE})


class UnitRegistryError(Exception):
    """Base of the registry's refusals."""


class InvalidUnitCodeError(UnitRegistryError):
    def __init__(self, code: str) -> None:
        super().__init__(
            f"unit code {code!r} is not a lower-case slug of [a-z0-9.-] usable in a topic name"
        )


class UnitAlreadyRegisteredError(UnitRegistryError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unit {code!r} is already registered")


class UnknownUnitError(UnitRegistryError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no unit {code!r} in the registry")


class UnitRetiredError(UnitRegistryError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unit {code!r} is retired and cannot take part in this change")


class InvalidUnitParentError(UnitRegistryError):
    def __init__(self, code: str, parent: str | None, why: str) -> None:
        super().__init__(f"unit {code!r} cannot have parent {parent!r}: {why}")


@dataclass(frozen=True)
class Unit:
    code: str
    name_zh: str
    kind: UnitKind
    parent: str | None
    territory: str | None = None
    retired: bool = False

    @property
    def topic(self) -> str:
        """The Kafka topic on which this unit's department system receives its assignments."""
        return f"assignments.{self.code}"

    @property
    def is_territorial(self) -> bool:
        return self.kind in TERRITORIAL_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "kind": self.kind.value,
            "parent": self.parent,
            "territory": self.territory,
            "retired": self.retired,
        }


@dataclass(frozen=True)
class UnitRegistry:
    """An immutable view of all units, active and retired, keyed by code."""

    units: Mapping[str, Unit]

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units.values())

    def __len__(self) -> int:
        return len(self.units)

    def get(self, code: str) -> Unit:
        try:
            return self.units[code]
        except KeyError:
            raise UnknownUnitError(code) from None

    def is_active(self, code: str) -> bool:
        unit = self.units.get(code)
        return unit is not None and not unit.retired

    def active(self) -> list[Unit]:
        return [u for u in self.units.values() if not u.retired]

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.active() if u.parent == code]

    def of_kind(self, kind: UnitKind) -> list[Unit]:
        return [u for u in self.active() if u.kind is kind]

    def ancestors(self, code: str) -> list[str]:
        """Parent chain up to the master platform, nearest first."""
        chain: list[str] = []
        parent = self.get(code).parent
        while parent is not None:
            chain.append(parent)
            parent = self.get(parent).parent
        return chain

    def territory_unit(self, territory: str) -> Unit:
        """The county sub-platform or zone that dispatches again inside `territory`."""
        unit = self.get(territory)
        if unit.kind not in (UnitKind.COUNTY, UnitKind.ZONE):
            raise UnknownUnitError(territory)
        return unit

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> UnitRegistry:
        units = {}
        for r in records:
            unit = Unit(
                code=r["code"],
                name_zh=r["name_zh"],
                kind=UnitKind(r["kind"]),
                parent=r.get("parent"),
                territory=r.get("territory"),
                retired=bool(r.get("retired", False)),
            )
            units[unit.code] = unit
        return cls(units=units)


def load_unit_records() -> list[dict[str, Any]]:
    """The seed registry in `data/units.json` (read on call, never at import)."""
    return list(load_json("units.json")["units"])


def load_unit_registry() -> UnitRegistry:
    return UnitRegistry.from_records(load_unit_records())


class UnitDirectory(Aggregate):
    """The event-sourced registry of one platform (one per city)."""

    @staticmethod
    def create_id(platform: str = PLATFORM_CODE) -> UUID:
        return uuid5(NAMESPACE_URL, f"minsheng/dispatch/unit-directory/{platform}")

    @event("DirectoryOpened")
    def __init__(self, platform: str = PLATFORM_CODE) -> None:
        self.platform = platform
        self.units: dict[str, dict[str, Any]] = {}

    # --- commands (check, then record) ---

    def register(
        self,
        *,
        code: str,
        name_zh: str,
        kind: str,
        parent: str | None,
        territory: str | None = None,
    ) -> None:
        self.check_code(code)
        if code in self.units:
            raise UnitAlreadyRegisteredError(code)
        kind_ = UnitKind(kind)
        self.check_parent(code, kind_, parent)
        self._registered(
            code=code, name_zh=name_zh, kind=kind_.value, parent=parent, territory=territory
        )

    def rename(self, *, code: str, name_zh: str) -> None:
        self.check_active(code)
        self._renamed(code=code, name_zh=name_zh)

    def retire(self, *, code: str, reason: str) -> None:
        self.check_active(code)
        if any(u["parent"] == code and not u["retired"] for u in self.units.values()):
            raise UnitRegistryError(
                f"unit {code!r} still has active child units; move or retire them first"
            )
        self._retired(code=code, reason=reason)

    def move(self, *, code: str, parent: str, territory: str | None = None) -> None:
        self.check_active(code)
        kind = UnitKind(self.units[code]["kind"])
        self.check_parent(code, kind, parent)
        if parent == code or code in self.registry.ancestors(parent):
            raise InvalidUnitParentError(code, parent, "that would make a cycle")
        self._moved(code=code, parent=parent, territory=territory)

    def seed(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Register seed records (parents before children), skipping codes already known."""
        for r in records:
            if r["code"] not in self.units:
                self.register(
                    code=r["code"],
                    name_zh=r["name_zh"],
                    kind=r["kind"],
                    parent=r.get("parent"),
                    territory=r.get("territory"),
                )

    @property
    def registry(self) -> UnitRegistry:
        return UnitRegistry.from_records(self.units.values())

    # --- invariants ---

    @staticmethod
    def check_code(code: str) -> None:
        if not _UNIT_CODE.match(code):
            raise InvalidUnitCodeError(code)

    def check_active(self, code: str) -> None:
        if code not in self.units:
            raise UnknownUnitError(code)
        if self.units[code]["retired"]:
            raise UnitRetiredError(code)

    def check_parent(self, code: str, kind: UnitKind, parent: str | None) -> None:
        if kind is UnitKind.MASTER:
            if parent is not None:
                raise InvalidUnitParentError(code, parent, "the master platform has no parent")
            return
        if parent is None:
            raise InvalidUnitParentError(
                code, parent, "every unit but the master platform has a parent"
            )
        self.check_active(parent)
        if kind is UnitKind.SUBDISTRICT and self.units[parent]["kind"] not in ("county", "zone"):
            raise InvalidUnitParentError(
                code, parent, "a sub-district hangs under a county or a zone"
            )

    # --- events (past tense) ---

    @event("UnitRegistered")
    def _registered(
        self, code: str, name_zh: str, kind: str, parent: str | None, territory: str | None
    ) -> None:
        self.units[code] = {
            "code": code,
            "name_zh": name_zh,
            "kind": kind,
            "parent": parent,
            "territory": territory,
            "retired": False,
        }

    @event("UnitRenamed")
    def _renamed(self, code: str, name_zh: str) -> None:
        self.units[code] = {**self.units[code], "name_zh": name_zh}

    @event("UnitRetired")
    def _retired(self, code: str, reason: str) -> None:
        self.units[code] = {**self.units[code], "retired": True}

    @event("UnitMoved")
    def _moved(self, code: str, parent: str, territory: str | None) -> None:
        self.units[code] = {**self.units[code], "parent": parent, "territory": territory}
