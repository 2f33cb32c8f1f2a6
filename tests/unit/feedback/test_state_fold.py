"""The fold of stored events gives the repository's state at every version, reading the
store only when it does not hold the version before."""

from datetime import timedelta

from eventsourcing.application import Application

from services.feedback.application.state_fold import StateFold
from services.feedback.domain.rating import TicketFeedback
from tests.unit.feedback.test_rating import T0, _reopen_once, replied


def _stored() -> tuple[Application, list]:
    """A record through three reopens, saved; its stored events as the relay reads them."""
    app = Application()
    fb = replied()
    for n in range(1, 4):
        _reopen_once(fb, T0 + timedelta(days=n))
        fb.deliver_reply(unit_code="YZ-QHJD", reply_outcome="resolved",
                         delivered_at=T0 + timedelta(days=n))
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=5))
    fb.close(at=T0 + timedelta(days=5))
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
