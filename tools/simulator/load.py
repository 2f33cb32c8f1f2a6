"""The city simulator as background load, for fault tests and benchmarks.

``CityLoad`` runs a live city stream (every channel, realistic texts, units signing for and
replying, citizens rating, staff calling back) in a thread with its own event loop, against a
platform's public interfaces. While processes are killed and restarted it behaves as real
adapters and department systems do: a call that fails because the platform is away is retried
with the SAME idempotency key (the request id) until the platform takes it. It keeps a record
of what the platform acknowledged, per ticket, so a test can check that nothing acknowledged
was lost and nothing was applied twice.

    load = CityLoad(endpoints, rate=6)
    load.start()
    load.wait_for(submitted=20)
    ... kill -9, restart ...
    record = load.stop()          # actions under way finish (retrying) first
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tools.simulator.drive.driver import Waits
from tools.simulator.drive.errors import ActionError, TicketGaveUpError
from tools.simulator.drive.live import LiveOptions, stream
from tools.simulator.drive.scheduler import LiveScheduler
from tools.simulator.drive.session import Session
from tools.simulator.drive.settings import Endpoints
from tools.simulator.model import RATE, SimAction

# Failures that mean "the platform is away for a moment", not "the platform said no".
TRANSIENT_SUFFIXES = (":unreachable", ":gave_up", ":502", ":503", ":504", ":UNAVAILABLE",
                      ":DEADLINE_EXCEEDED", ":no_rating_link")
# What each acknowledged action leaves in the ticket's history (one event each).
EVENT_OF = {"accepted": "TicketAccepted", "rejected": "TicketRejected",
            "signed_for": "AssignmentSignedFor", "bounced_back": "AssignmentBouncedBack",
            "noted": "AssignmentProgressNoted", "extension_asked": "ExtensionRequested",
            "replied": "AssignmentReplied", "rated": "TicketRated", "called_back": "CallbackRecorded"}


def transient(error: ActionError) -> bool:
    return error.kind.endswith(TRANSIENT_SUFFIXES)


@dataclass
class LoadRecord:
    """What the platform acknowledged: tickets by code, and per ticket the actions it took."""

    codes: dict[str, str] = field(default_factory=dict)            # code -> ticket id
    acted: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # action kinds that failed after an attempt that may have reached the platform: their
    # count is not known exactly (at most one more than acknowledged)
    uncertain: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    summary: dict[str, object] = field(default_factory=dict)

    def expected_events(self, code: str) -> dict[str, int]:
        """Event type -> how many the ledger must hold for ``code`` (kinds known exactly)."""
        return {EVENT_OF[k]: n for k, n in self.acted[code].items()
                if k in EVENT_OF and k not in self.uncertain[code]}


class CityLoad:
    def __init__(self, endpoints: Endpoints, *, rate: float = 6.0, speed: float = 86_400.0,
                 seed: int = 31, concurrency: int = 16, give_up_after: float = 120.0,
                 waits: Waits | None = None):
        self.endpoints = endpoints
        self.options = LiveOptions(rate=rate, speed=speed, seed=seed, concurrency=concurrency,
                                   progress=False, drain_seconds=give_up_after + 30)
        self.give_up_after = give_up_after
        self.waits = waits or Waits(assignment=90, dispatcher_after=30, notice=90, stale=1.0)
        self.record = LoadRecord()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._codes_of: dict[str, str] = {}  # simulator ref -> code

    # -- the caller's side (any thread) -------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="city-load", daemon=True)
        self._thread.start()

    def submitted(self) -> int:
        with self._lock:
            return len(self.record.codes)

    def retried(self) -> int:
        """How many calls so far met a platform that was away and were tried again."""
        with self._lock:
            return self.record.retries

    def wait_for(self, *, submitted: int = 0, retried: int = 0, timeout: float = 60.0) -> bool:
        """Block until the platform acknowledged ``submitted`` requests and the load retried
        ``retried`` calls (False on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._failure is not None:
                raise RuntimeError("the city load stopped") from self._failure
            if self.submitted() >= submitted and self.retried() >= retried:
                return True
            time.sleep(0.2)
        return False

    def stop(self, timeout: float = 300.0) -> LoadRecord:
        """No new requests; actions under way finish (retrying); returns the record."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the city load did not stop within {timeout} s")
        if self._failure is not None:
            raise RuntimeError("the city load failed") from self._failure
        return self.record

    # -- the load's own thread ----------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # surfaced to the caller by wait_for/stop
            self._failure = exc

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tally = await stream(self.endpoints, self.options, stop=self._stop, prepare=self._prepare,
                             waits=self.waits)
        self.record.summary = tally.summary()

    def _prepare(self, session: Session, scheduler: LiveScheduler) -> None:
        driver = session.driver
        driver.on_acted = lambda action, what: self._acted(session, action, what)
        act = scheduler.run_action

        async def persistently(action: SimAction) -> None:
            await self._persist(act, action)

        scheduler.run_action = persistently

    def _acted(self, session: Session, action: SimAction, what: str) -> None:
        state = session.driver.tickets.get(action.ticket)
        if state is None:
            return
        with self._lock:
            self.record.codes[state.code] = state.ticket_id
            self._codes_of[action.ticket] = state.code
            self.record.acted[state.code][what] += 1

    async def _persist(self, act, action: SimAction) -> None:  # type: ignore[no-untyped-def]
        """Do ``action``; while the platform is away, again with the same idempotency key."""
        began = asyncio.get_running_loop().time()
        attempt = 0
        while True:
            try:
                await act(action)
                return
            except TicketGaveUpError:
                raise
            except ActionError as exc:
                if attempt and action.kind == RATE and exc.kind == "feedback:409":
                    return  # the attempt whose answer was lost used the one-time link
                waited = asyncio.get_running_loop().time() - began
                if not transient(exc) or waited > self.give_up_after:
                    self._failed(action, exc, maybe_applied=attempt > 0 or transient(exc))
                    raise
                attempt += 1
                with self._lock:
                    self.record.retries += 1
                await asyncio.sleep(min(0.25 * 2 ** min(attempt, 3), 2.0))

    def _failed(self, action: SimAction, error: ActionError, *, maybe_applied: bool) -> None:
        with self._lock:
            self.record.errors[error.kind] += 1
            code = self._codes_of.get(action.ticket)
            if code is not None and maybe_applied:
                self.record.uncertain[code].add(_milestone(action.kind))


def _milestone(kind: str) -> str:
    return {"sign_for": "signed_for", "bounce_back": "bounced_back", "note": "noted",
            "ask_extension": "extension_asked", "reply": "replied", "rate": "rated",
            "callback": "called_back", "decide": "decided", "submit": "accepted"}.get(kind, kind)
