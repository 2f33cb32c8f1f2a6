"""A service whose gRPC port is taken says so in one log line and exits, instead of dying
with gRPC's bare "Failed to bind" traceback (an operator starting a second copy by mistake)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from fastapi import FastAPI

from backbone.runtime import Service, serve
from backbone.settings import ServiceSettings


def test_a_taken_grpc_port_is_a_clear_exit(caplog: pytest.LogCaptureFixture) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    settings = ServiceSettings(service="audit", environment="test", grpc_port=port)
    service = Service(settings=settings, infra=None,  # type: ignore[arg-type]  # never reached
                      http=FastAPI(), grpc_servicers=[lambda server: None])
    try:
        with caplog.at_level(logging.ERROR, logger="backbone.runtime"), \
                pytest.raises(SystemExit) as exited:
            asyncio.run(serve(service))
    finally:
        taken.close()
    assert exited.value.code == 1
    said = [r.getMessage() for r in caplog.records if r.name == "backbone.runtime"]
    assert any(f"127.0.0.1:{port} cannot be bound" in m and "another audit" in m for m in said), said
