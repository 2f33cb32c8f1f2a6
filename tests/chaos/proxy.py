"""A TCP proxy in front of each Kafka broker, for network trouble on the bus link.

The brokers advertise the proxy's ports (KAFKA_PROXY_OFFSET in deploy/local/infra.py), so every
byte between the services and the brokers, and between the brokers for replication, passes
through here, where it can be delayed, held up, or cut with a reset (RST). A TCP stream cannot
lose bytes in user space; packet loss reaches an application as stalls while TCP retransmits,
so "loss" here is a stall of the forwarding in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

log = logging.getLogger(__name__)


class BusProxy:
    """Forwards 127.0.0.1:listen -> 127.0.0.1:target for each pair, in a thread of its own."""

    def __init__(self, pairs: dict[int, int]):
        self.pairs = pairs
        self.delay_s = 0.0
        self._flowing: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._main, name="bus-proxy", daemon=True)
        self._ready = threading.Event()
        self.connections = 0

    # -- controls (any thread) -----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the bus proxy did not start")

    def delay(self, seconds: float) -> None:
        self.delay_s = seconds

    def stall(self, stalled: bool) -> None:
        assert self._loop is not None and self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.clear if stalled else self._flowing.set)

    def reset_all(self) -> int:
        """Abort every open connection (the peers see a reset); returns how many."""
        assert self._loop is not None
        done = threading.Event()
        count = [0]

        def abort() -> None:
            count[0] = len(self._writers)
            for w in list(self._writers):
                w.transport.abort()
            done.set()

        self._loop.call_soon_threadsafe(abort)
        done.wait(5)
        return count[0]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- the proxy's own thread ----------------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._flowing = asyncio.Event()
        self._flowing.set()
        for listen, target in self.pairs.items():
            server = loop.run_until_complete(asyncio.start_server(
                lambda r, w, t=target: self._serve(r, w, t), "127.0.0.1", listen,
                family=socket.AF_INET, reuse_address=True))
            self._servers.append(server)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for s in self._servers:
                s.close()
            for w in list(self._writers):
                w.transport.abort()
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     target: int) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.transport.abort()
