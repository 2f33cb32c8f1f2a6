"""A thread of one's own for blocking work that an event loop hands over again and again.

`asyncio.to_thread` is made for the occasional call: each one copies the context, submits a
work item to the loop's default executor (its locks, its idle-thread semaphore, a
`concurrent.futures.Future`), and chains that future back to an asyncio one (two more
callbacks, one crossing threads). A consumer hands over every batch it applies, so that was
paid per batch in every service process (py-spy of feedback during the end-to-end run:
`ThreadPoolExecutor.submit` ~10 % and `_chain_future` ~5 % of its GIL samples, with the
other callers of `to_thread`). `HandOff` keeps one thread per owner: a job is a queue put, and
its answer one `call_soon_threadsafe`; the jobs of one owner run one after another, in order.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = object()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the waiter gave up (shutdown); the job ran to its end anyway
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class HandOff:
    """Runs blocking calls, one at a time, in a thread of its own (started at the first call,
    ended by `close`). Like `asyncio.to_thread`, a call runs in a copy of the caller's context,
    and a waiter that is cancelled does not stop a call already running."""

    def __init__(self, name: str):
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None or not self._thread.is_alive():
            self._jobs = queue.SimpleQueue()  # (a thread that died never takes another job)
            self._thread = threading.Thread(target=self._work, args=(self._jobs,),
                                            name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put((loop, future, contextvars.copy_context(), func, args))
        return await future

    def close(self) -> None:
        """The thread ends once the calls handed over before this one are done (a call after
        this starts a new thread, with a queue of its own)."""
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread = None

    @staticmethod
    def _work(jobs: queue.SimpleQueue[Any]) -> None:
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            loop, future, context, func, args = job
            result, error = None, None
            try:
                result = context.run(func, *args)
            except BaseException as exc:  # handed back to the waiter, as to_thread does
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
            del job, future, result, error  # not kept alive until the next job
