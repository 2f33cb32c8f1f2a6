"""faust's Kafka transport for the surge worker, with fetches that wait for a batch, and a
worker that never turns debug logging on.

faust's aiokafka driver leaves `fetch_min_bytes` at 1: the broker answers a fetch as soon as
one message is there, so at the platform's pace every lifecycle event cost the worker a fetch
round trip of its own (aiokafka's fetcher was the largest part of its CPU, py-spy via
`bench.consumer_cost --service analytics-surges --profile`). A surge is counted in windows of
minutes: a fetch that waits up to `wait_ms` for `min_bytes` costs no alert anything.

faust's worker, at a log level of WARNING or above, sets the root logger to DEBUG to spin a
terminal spinner on every record (faust/worker.py `_setup_spinner_handler`): every debug line
of aiokafka was then built and dropped, a quarter of the worker's CPU. `QuietWorker` has no
spinner (nobody watches a service's terminal), so the level asked for is the level used.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


def patient_transport(min_bytes: int, wait_ms: int) -> type[driver.Transport]:
    """The aiokafka transport whose consumer's fetches wait for `min_bytes` or `wait_ms`."""

    class PatientThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # read by AIOKafkaConsumer.start() when it makes its fetcher
            consumer._fetch_min_bytes = min_bytes
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

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
