"""The upload copies' expiry, on a timer in the api process (the one that stores uploads).

An upload's copy sealed for intake is kept `retention_s`, then shredded
(application/attachments.py). The sweep ran after every upload and read the whole upload table
each time; now it runs once a `every_s` (a minute), whatever the traffic, over the partial
index of the copies still there. A copy lives at most `every_s` past its retention.
"""

from __future__ import annotations

import asyncio
import logging

from backbone.runtime import Loop
from services.intake.application.attachments import Attachments

log = logging.getLogger(__name__)


def loop(attachments: Attachments, every_s: float = 60.0) -> Loop:
    async def sweep_uploads(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                shredded = await asyncio.to_thread(attachments.expire)
                if shredded:
                    log.info("shredded %d expired upload copies", shredded)
            except Exception:  # the next round tries again; uploads are unaffected
                log.warning("could not expire old upload copies", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass

    return sweep_uploads
