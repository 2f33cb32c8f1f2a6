"""The fold of stored events gives the repository's state at every version, reading the
store only when it does not hold the version before."""

import copy
from datetime import timedelta

from eventsourcing.application import Application

from services.feedback.application.state_fold import StateFold, copy_state
from services.feedback.domain.errors import FeedbackError
from services.feedback.domain.rating import TicketFeedback
from tests.unit.feedback.test_rating import T0, closed_after_reopens, replied


def _stored() -> tuple[Application, list]:
    """A record through three reopens, saved; its stored events as the relay reads them."""
    app = Application()
    fb = closed_after_reopens(3)
    app.save(fb)
    stored = [app.mapper.to_domain_event(n) for n in
              app.recorder.select_notifications(start=1, limit=100)]
    return app, stored


def _same(a: TicketFeedback, b: TicketFeedback) -> bool:
    return vars(a) == vars(b)


def test_every_version_equals_the_repositorys() -> None:
    app, stored = _stored()
    loads: list = []
    fold = StateFold(lambda oid, v: loads.append(v) or app.repository.get(oid, version=v))
    for e in stored:
        state = fold.at(e)
        assert state.version == e.originator_version
        assert _same(state, app.repository.get(e.originator_id, version=e.originator_version))
    assert loads == []  # folded from the first event: the store was never asked


def test_a_fold_that_starts_midway_asks_the_store_once_then_folds() -> None:
    app, stored = _stored()
    loads: list = []
    fold = StateFold(lambda oid, v: loads.append(v) or app.repository.get(oid, version=v))
    for e in stored[4:]:
        assert _same(fold.at(e), app.repository.get(e.originator_id,
                                                      version=e.originator_version))
    assert loads == [5]
    # an event read again (a relay round retried) is answered exactly, from the store
    assert _same(fold.at(stored[6]), app.repository.get(stored[6].originator_id, version=7))
    assert loads == [5, 7]


def test_events_seen_keep_the_chain_and_latest_is_the_newest() -> None:
    app, stored = _stored()
    fold = StateFold(lambda oid, v: app.repository.get(oid, version=v))
    for e in stored[:-1]:
        fold.see(e)
    last = fold.latest(stored[-1])
    assert _same(last, app.repository.get(stored[-1].originator_id))
    assert fold.latest(stored[2]) is last  # an older event: the newest state held


def _containers(value: object, path: str = "") -> dict[str, int]:
    """id() of every list, dict and set in a value, by where it is."""
    out: dict[str, int] = {}
    if isinstance(value, (list, dict, set)):
        out[path] = id(value)
    items = (value.items() if isinstance(value, dict) else
             enumerate(value) if isinstance(value, (list, tuple)) else ())
    for k, v in items:
        out.update(_containers(v, f"{path}/{k}"))
    return out


def test_a_recent_copy_is_what_deepcopy_makes_and_shares_nothing_that_changes() -> None:
    app, stored = _stored()
    rated = 0
    for e in stored:
        state = app.repository.get(e.originator_id, version=e.originator_version)
        mine, theirs = copy_state(state), copy.deepcopy(state)
        assert type(mine) is type(state) and _same(mine, theirs) and _same(mine, state)
        ours = _containers(vars(state))
        assert ours and not set(_containers(vars(mine)).values()) & set(ours.values())
        # acting on the copy leaves the state as it was
        before = copy.deepcopy(vars(state))
        mine.citizen_ids.append("c-9")
        mine.ratings["c-9"] = "x"
        mine.used_token_ids.append("t-9")
        try:
            mine.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=5))
            rated += 1
        except FeedbackError:  # the domain may refuse; nothing of the state moves either way
            pass
        assert vars(state) == before
    assert rated  # some copies took the rating: acting on a copy was tried, not only refused
    # an aggregate with events pending (never a fold's state) is deep-copied, as before
    fresh = replied()
    assert fresh.pending_events
    copied = copy_state(fresh)
    assert _same(copied, copy.deepcopy(fresh))
    assert all(a is not b for a, b in zip(copied.pending_events, fresh.pending_events,
                                           strict=True))
