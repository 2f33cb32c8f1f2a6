"""faust's Kafka transport for the surge worker, with fetches that wait for a batch, and a
worker that never turns debug logging on.

faust's aiokafka driver leaves `fetch_min_bytes` at 1: the broker answers a fetch as soon as
one message is there, so at the platform's pace every lifecycle event cost the worker a fetch
round trip of its own (aiokafka's fetcher was the largest part of its CPU, py-spy via
`bench.consumer_cost --service analytics-surges --profile`). A surge is counted in windows of
minutes: a fetch that waits up to `wait_ms` (1.5 s, faust's own idle wait) for `min_bytes`
costs no alert anything.

faust's worker, at a log level of WARNING or above, sets the root logger to DEBUG to spin a
terminal spinner on every record (faust/worker.py `_setup_spinner_handler`): every debug line
of aiokafka was then built and dropped, a quarter of the worker's CPU. `QuietWorker` has no
spinner (nobody watches a service's terminal), so the level asked for is the level used.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


def patient_transport(min_bytes: int, wait_ms: int, idle_wait_ms: int = 5000,
                      idle_round_ms: int = 2000) -> type[driver.Transport]:
    """The aiokafka transport whose consumer's fetches wait for `min_bytes` or `wait_ms` while
    events flow, and long-poll (`idle_wait_ms`, answered as soon as an event comes) once a poll
    found nothing: gathering while idle was an empty fetch every `wait_ms` (0.33 -> 0.65 % of a
    core idle). `idle_round_ms`: the fetcher's own round (aiokafka's 200 ms woke it five times
    a second); as backbone.kafka.quiet_options does for the platform's other consumers."""

    class PatientThread(driver.AIOKafkaConsumerThread):
        _gathering = False

        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # read by AIOKafkaConsumer.start() when it makes its fetcher: quiet until events flow
            consumer._fetch_min_bytes = 1
            consumer._fetch_max_wait_ms = idle_wait_ms
            consumer._consumer_timeout = idle_round_ms / 1000
            self._gathering = False
            return consumer

        async def _fetch_records(self, consumer: Any, active_partitions: Any,
                                 timeout: float | None = None,
                                 max_records: int | None = None) -> Any:
            records = await super()._fetch_records(consumer, active_partitions,
                                                   timeout=timeout, max_records=max_records)
            flowing = bool(records)
            if flowing != self._gathering:  # the fetcher builds each request from these
                fetcher = consumer._fetcher
                fetcher._fetch_min_bytes = min_bytes if flowing else 1
                fetcher._fetch_max_wait_ms = wait_ms if flowing else idle_wait_ms
                self._gathering = flowing
            return records

    class PatientConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return PatientThread(self, loop=self.loop, beacon=self.beacon)

    class PatientTransport(driver.Transport):
        Consumer = PatientConsumer

    return PatientTransport


class QuietWorker(faust.Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


class SurgeApp(faust.App):
    """A faust App on `transport` (a class from `patient_transport`) with `QuietWorker`."""

    def __init__(self, *args: Any, transport: type[driver.Transport], **kwargs: Any) -> None:
        self._transport_class = transport
        super().__init__(*args, Worker=QuietWorker, **kwargs)

    def _new_transport(self) -> Any:
        return self._transport_class(self.conf.broker_consumer, self)
