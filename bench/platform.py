"""An isolated platform for the benchmarks (its own database, topics and ports), so a running
demo is not disturbed: tests/e2e/platform_harness.Platform, started intake first (the first
service creates the database; the others would race it) and in event-clock mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from backbone import auth
from backbone.settings import ServiceSettings
from tests.e2e.platform_harness import Platform
from tools.simulator.drive.settings import Endpoints


def start(extra_env: dict[str, str] | None = None) -> Platform:
    platform = Platform(extra_env={"MINSHENG_CLOCK": "event", **(extra_env or {})})
    first, rest = platform.names[0], platform.names[1:]
    try:
        platform.start(first)
        platform.wait_ready([first], timeout=90)
        for name in rest:
            platform.start(name)
        platform.wait_ready(platform.names, timeout=120)
    except BaseException:
        platform.stop_all()  # a fixture's teardown never runs when its setup fails
        raise
    return platform


def endpoints(platform: Platform) -> Endpoints:
    """Where the isolated platform's services listen (free ports the harness picked)."""
    settings = ServiceSettings()
    return Endpoints(urls={name: platform.url(name) for name in platform.names},
                     dispatch_grpc=platform.grpc_target("dispatch"),
                     issuer=auth.issuer_for(settings), kafka_bootstrap=settings.kafka_bootstrap,
                     topic_prefix=platform.topic(""))


@contextlib.contextmanager
def running(extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    platform = start(extra_env)
    try:
        yield platform
    finally:
        platform.stop_all()
