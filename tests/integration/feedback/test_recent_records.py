"""Commands act first on the record as the relay last folded it (no store read); a state the
store has moved past must never decide: its save fails on the version and the command runs
again on the store's state."""

from __future__ import annotations

import copy
import logging
from datetime import timedelta

import pytest
from test_feedback_service import answered, new_ticket
from upstream import T0

from backbone import auth
from backbone.group_commit import GroupCommitter
from backbone.http import ConflictError
from backbone.store import EventContext, application_env
from services.feedback.adapters.read_models import Queries
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.judging import Judging
from services.feedback.domain.callbacks import load_callback_rules
from services.feedback.domain.errors import AlreadyRatedError
from services.feedback.domain.rating import TicketFeedback

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_stale_recent_record_is_caught_by_the_version_and_decided_again(service, caplog):
    ticket = new_ticket()
    await answered(service, ticket, citizen="citizen-stale")
    app = FeedbackApplication(env=application_env(service.settings))
    committer = GroupCommitter(app, service="feedback-test")
    try:
        record_id = TicketFeedback.create_id(ticket.id)
        stale = app.repository.get(record_id)  # awaiting a rating
        recent_calls = []

        def recent(oid):
            recent_calls.append(oid)
            return copy.deepcopy(stale)

        judging = Judging(app=app, committer=committer, queries=Queries(None, service.settings.schema),
                          links=auth.verifier_for(service.settings),
                          link_issuer=None, callback_rules=load_callback_rules(),
                          recent=recent)
        context = EventContext(trace_id="t" * 32, actor_role="citizen", actor_id="x")
        at = T0 + timedelta(days=1, hours=1)
        act = Judging._channel_rating("citizen-stale", "dissatisfied", "", at)
        first = judging._change(ticket.id, context, act)  # the recent copy is the store's
        assert first.verdict == "dissatisfied" and recent_calls == [record_id]
        # the copy is now one version behind: it would let the citizen rate again, but its
        # save conflicts and the store's state answers (already rated), nothing stored
        caplog.set_level(logging.INFO, logger="services.feedback.application.judging")
        with pytest.raises((AlreadyRatedError, ConflictError)):
            judging._change(ticket.id, context,
                            Judging._channel_rating("citizen-stale", "satisfied", "", at))
        assert "concurrent change" in caplog.text  # the save failed on the version
        assert len(recent_calls) == 2  # and the retry read the store, not the copy
        fresh = app.repository.get(record_id)
        assert fresh.verdict.value == "dissatisfied"
        assert fresh.version == stale.version + 1  # one rating, stored once
    finally:
        committer.close()
        app.close()


async def test_a_link_rating_decided_on_the_loop_is_checked_the_same_way(service, caplog,
                                                                         monkeypatch):
    """With the rate limit's token held (no I/O), a whole link's rating is checked and acted
    on the record's recent copy on the event loop, no worker step; a copy the store moved past
    still fails its save on the version, and the retry (a worker step) reads the store."""
    from services.feedback.application import judging as judging_module

    ticket = new_ticket()
    notice = await answered(service, ticket, citizen="citizen-loop")
    app = FeedbackApplication(env=application_env(service.settings))
    committer = GroupCommitter(app, service="feedback-test")
    steps: list[object] = []
    to_thread = judging_module.asyncio.to_thread

    async def counted(fn, *args):
        # (asyncio's own: the running service's timer hops too; only the command's count)
        if getattr(fn, "__qualname__", "").startswith("Judging._change_async"):
            steps.append(fn)
        return await to_thread(fn, *args)

    monkeypatch.setattr(judging_module.asyncio, "to_thread", counted)
    try:
        record_id = TicketFeedback.create_id(ticket.id)
        stale = app.repository.get(record_id)  # awaiting a rating
        judging = Judging(app=app, committer=committer,
                          queries=Queries(None, service.settings.schema),
                          links=auth.verifier_for(service.settings), link_issuer=None,
                          callback_rules=load_callback_rules(),
                          recent=lambda oid: copy.deepcopy(stale))
        context = EventContext(trace_id="t" * 32, actor_role="citizen", actor_id="x")
        at = T0 + timedelta(days=1, hours=1)
        admitted: list[str] = []

        def admit() -> None:
            admitted.append("worker")

        def held() -> bool:
            admitted.append("loop")
            return True

        rated = await judging.rate_with_link_async(
            token=notice.rating_token, rating="dissatisfied", comment="", at=at,
            context=context, admit=admit, admitted=held)
        assert rated.verdict == "dissatisfied"
        assert steps == [] and admitted == ["loop"]  # decided and saved from the loop
        # the copy is now one version behind: the link looks unused there, but its save
        # conflicts, and the store's state answers in a worker step; no second token taken
        caplog.set_level(logging.INFO, logger="services.feedback.application.judging")
        with pytest.raises((AlreadyRatedError, ConflictError)):
            await judging.rate_with_link_async(
                token=notice.rating_token, rating="satisfied", comment="", at=at,
                context=context, admit=admit, admitted=held)
        assert "concurrent change" in caplog.text
        assert len(steps) == 1 and admitted == ["loop", "loop"]
        fresh = app.repository.get(record_id)
        assert fresh.verdict.value == "dissatisfied" and fresh.version == stale.version + 1
        # no token held: the worker step takes it, checks the link and acts on the copy as
        # before (its save conflicts), then a second step reads the store
        with pytest.raises((AlreadyRatedError, ConflictError)):
            await judging.rate_with_link_async(
                token=notice.rating_token, rating="satisfied", comment="", at=at,
                context=context, admit=admit, admitted=lambda: False)
        assert admitted == ["loop", "loop", "worker"] and len(steps) == 3
    finally:
        committer.close()
        app.close()
