"""Aggregates' states folded from the stored events a reader of the notification log sees.

The relay and the own-log projection read feedback's notification log in order, so they see
every stored event of an aggregate, version after version; each needs the aggregate's state
at the event it reads (the relay: a CitizenNotified names the channel and unit; the
projection: the record's row). Reading that state from the store cost a query per event.
A fold keeps the state of the aggregates it saw last and applies the next event in memory:
the same `mutate` the repository applies to the same committed events, so the same state.
When the fold does not hold the version before (first sight after a start, an evicted
aggregate, an event read again after a failed round), it asks the store, as before.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

# (aggregate id, version or None for the current one) -> the aggregate from the store
Load = Callable[[UUID, int | None], Any]


class StateFold:
    def __init__(self, load: Load, *, maxsize: int = 2000):
        self._load = load
        self._maxsize = maxsize
        self._states: OrderedDict[UUID, Any] = OrderedDict()
        self._lock = threading.Lock()

    def at(self, event: Any) -> Any:
        """The aggregate exactly as of `event` (its version). The object is the fold's own:
        read it before the next call, never keep or change it."""
        with self._lock:
            state = self._next(event)
            if state is not None and state.version == event.originator_version:
                return state
        return self._remember(self._load(event.originator_id, event.originator_version))

    def latest(self, event: Any) -> Any:
        """The aggregate as of `event` or later (what the fold or the store holds now)."""
        with self._lock:
            state = self._next(event)
            if state is not None and state.version >= event.originator_version:
                return state
        return self._remember(self._load(event.originator_id, None))

    def see(self, event: Any) -> None:
        """Fold `event` in if the fold can (an event whose state nobody needs now: the chain
        of versions stays whole), without asking the store."""
        with self._lock:
            self._next(event)

    def copy_of(self, oid: UUID) -> Any | None:
        """A copy of the latest state the fold holds of `oid` (committed, but perhaps not the
        store's latest), or None. A command may act on it only if its save is checked against
        the version (the store's unique (originator_id, version)); see Judging."""
        with self._lock:
            state = self._states.get(oid)
            return copy_state(state) if state is not None else None

    def forget(self) -> None:
        with self._lock:
            self._states.clear()

    def _next(self, event: Any) -> Any | None:
        """Fold `event` in if it is the next of what the fold holds (or the first)."""
        oid, version = event.originator_id, event.originator_version
        state = self._states.get(oid)
        if state is None and version == 1:
            state = event.mutate(None)
            self._keep(oid, state)
        elif state is not None and state.version == version - 1:
            state = event.mutate(state)
            self._keep(oid, state)
        return state

    def _remember(self, state: Any) -> Any:
        with self._lock:
            held = self._states.get(state.id)
            if held is None or held.version < state.version:
                self._keep(state.id, state)
        return state

    def _keep(self, oid: UUID, state: Any) -> None:
        self._states[oid] = state
        self._states.move_to_end(oid)
        while len(self._states) > self._maxsize:
            self._states.popitem(last=False)


# values that are never changed in place: a copy may share them (deepcopy returns them too)
_ATOMIC = frozenset((str, int, float, bool, bytes, type(None), UUID, datetime, date, time,
                     timedelta, Decimal))
# classes whose instances `copy_state` copies field by field (others: deepcopy)
_PLAIN_CLASSES: dict[type, bool] = {}


class _Deep(Exception):
    """A value the field-by-field copy does not know: the state is deep-copied instead."""


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMIC or isinstance(value, Enum):  # an Enum member is its own deep copy
        return value
    if kind is list:
        return [v if type(v) in _ATOMIC else _copied(v) for v in value]
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) not in _ATOMIC:
                raise _Deep
            out[k] = v if type(v) in _ATOMIC else _copied(v)
        return out
    if kind is tuple:
        return tuple(v if type(v) in _ATOMIC else _copied(v) for v in value)
    if kind is set or kind is frozenset:
        if not all(type(v) in _ATOMIC for v in value):
            raise _Deep
        return set(value) if kind is set else value
    raise _Deep


def _plain_class(kind: type) -> bool:
    """Whether `copy.deepcopy` copies an instance of `kind` as `copy_state` does: a new
    object of the class given a copy of the instance's `__dict__` (no hooks of its own)."""
    plain = _PLAIN_CLASSES.get(kind)
    if plain is None:
        plain = _PLAIN_CLASSES[kind] = (
            all(getattr(kind, name, None) is getattr(object, name, None)
                for name in ("__reduce_ex__", "__reduce__", "__getstate__"))
            and not any(hasattr(kind, name) for name in ("__deepcopy__", "__setstate__"))
            and not any(vars(c).get("__slots__") for c in kind.__mro__))
    return plain


def copy_state(state: Any) -> Any:
    """`copy.deepcopy(state)` for a state (an aggregate) whose fields are plain values, lists,
    dicts, tuples and sets of them (a TicketFeedback's are): the same values in new
    containers, ~5x faster; anything else (an event pending, an object in a field, a class
    with copy hooks) is deep-copied as before."""
    kind = type(state)
    if _plain_class(kind):
        try:
            fields = {k: v if type(v) in _ATOMIC else _copied(v)
                      for k, v in state.__dict__.items()}
        except _Deep:
            return copy.deepcopy(state)
        new = object.__new__(kind)
        new.__dict__.update(fields)
        return new
    return copy.deepcopy(state)
