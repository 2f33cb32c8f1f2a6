"""``live``: a continuous city stream at ``rate`` requests a second, now as the time.

Each new request gets its whole future drawn at once (the same behaviour profiles as a planned
month); its follow-ups happen at now + (simulated delay / speed), stated as the moment they
really happen, so this works whatever the services' clock mode is. Ctrl-C stops it cleanly:
no new requests, in-flight calls finish or are cancelled, and the summary is printed.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tools.simulator.behaviour import handle
from tools.simulator.city import build_city
from tools.simulator.drive.driver import CHINA, Waits
from tools.simulator.drive.run import _done
from tools.simulator.drive.scheduler import LiveScheduler
from tools.simulator.drive.session import Session, open_session
from tools.simulator.drive.settings import Endpoints
from tools.simulator.drive.tally import Progress, Tally
from tools.simulator.model import SimAction, TicketTruth
from tools.simulator.stream import StreamContext


@dataclass(frozen=True)
class LiveOptions:
    rate: float = 1.0            # new requests per second
    speed: float = 1440.0        # simulated seconds per wall second for the follow-ups
    seed: int = 11
    duration: float | None = None  # wall seconds; None: until Ctrl-C
    max_requests: int | None = None
    concurrency: int = 32
    progress: bool | None = None
    drain_seconds: float = 10.0  # when stopped: how long the actions under way may take to finish


def now_in_fuyang() -> datetime:
    return datetime.now(CHINA)


async def stream(endpoints: Endpoints, options: LiveOptions, *, stop: asyncio.Event | None = None,
                 prepare: Callable[[Session, LiveScheduler], None] | None = None,
                 waits: Waits | None = None) -> Tally:
    """Run until Ctrl-C (or ``stop`` is set, for a caller that runs it in a thread: no signal
    handlers then), ``duration`` or ``max_requests``. ``prepare`` may adjust the session's
    driver before the first request (the fault tests' load wraps its actions in retries)."""
    if options.rate <= 0:
        raise ValueError("rate must be positive")
    rng = random.Random(options.seed)
    # Request ids unique to this stream: a second stream with the same seed is new traffic,
    # not a retry of the first one's requests.
    ctx = StreamContext(rng, build_city(rng), options.seed,
                        ref_prefix=f"LIVE{options.seed}-{datetime.now(CHINA):%m%d%H%M%S}")
    truths: dict[str, TicketTruth] = {}
    loop = asyncio.get_running_loop()
    signals = () if stop is not None else (signal.SIGINT, signal.SIGTERM)
    stop = stop or asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with open_session(endpoints, unit_names=ctx.city.unit_names(), truths=truths,
                                seed=options.seed, waits=waits or Waits(notice=60.0)) as session:
            tally = session.tally
            driver = session.driver
            driver.time_of = lambda action: now_in_fuyang()
            driver.live = True
            scheduler = LiveScheduler(driver.act, speed=options.speed, concurrency=options.concurrency,
                                      on_done=lambda action, error: _done(tally, error))
            driver.scheduler = scheduler
            if prepare is not None:
                prepare(session, scheduler)
            progress = Progress(tally, enabled=options.progress)
            started = loop.time()
            count = 0
            while not stop.is_set():
                if options.duration is not None and loop.time() - started >= options.duration:
                    break
                if options.max_requests is not None and count >= options.max_requests:
                    break
                actions = _next_ticket(ctx, rng, truths)
                tally.total += len(actions)
                scheduler.start_ticket(actions[0].at, actions)
                count += 1
                progress.update(scheduler.position)
                try:
                    await asyncio.wait_for(stop.wait(), rng.expovariate(options.rate))
                except TimeoutError:
                    pass
            tally.count("open_when_stopped", scheduler.open_tickets)
            await scheduler.drain(options.drain_seconds)
            await scheduler.stop()
            progress.close(scheduler.position)
            return tally
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _next_ticket(ctx: StreamContext, rng: random.Random, truths: dict[str, TicketTruth]) -> list[SimAction]:
    at = now_in_fuyang().replace(tzinfo=None, microsecond=0)
    item = ctx.submit(at)
    handle(rng, item.line, item.truth, item.citizen)
    truths[item.truth.ticket] = item.truth
    return item.line.actions

