"""TLS by configuration on a service's own listeners: backbone.runtime.serve with
MINSHENG_TLS_CERT_FILE / _KEY_FILE serves HTTPS (uvicorn) and gRPC over TLS
(grpc.ssl_server_credentials), certificates from files made by a throw-away CA; a client that
trusts that CA gets through, one that does not is refused at the handshake, and plain text
reaches nothing."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import grpc
import httpx
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from backbone import runtime
from backbone.settings import ServiceSettings
from tests import throwaway_ca
from tests.waiting import patient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _NoInfra:
    """serve() stops these at the end; this test needs no Kafka or PostgreSQL."""

    class producer:  # noqa: N801
        @staticmethod
        async def stop() -> None:
            return None

    class pool:  # noqa: N801
        @staticmethod
        def close() -> None:
            return None


async def _until_listening(port: int, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + patient(timeout)
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
async def tls_service(tmp_path: Path):
    certs = throwaway_ca.make(tmp_path / "tls")
    settings = ServiceSettings(environment="test", service="tlscheck", http_port=_free_port(),
                               grpc_port=_free_port(), tls_cert_file=str(certs.cert_file),
                               tls_key_file=str(certs.key_file))
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def add_health(server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)

    service = runtime.Service(settings=settings, infra=_NoInfra(), http=app,  # type: ignore[arg-type]
                              grpc_servicers=[add_health])
    task = asyncio.create_task(runtime.serve(service))
    try:
        await _until_listening(settings.http_port)
        await _until_listening(settings.grpc_port)
        yield settings, certs
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_https_with_the_ca_and_refused_without(tls_service):
    settings, certs = tls_service
    url = f"https://127.0.0.1:{settings.http_port}/healthz"
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=certs.ca_file)) as c:
        assert (await c.get(url)).json() == {"status": "ok"}
    async with httpx.AsyncClient() as c:  # the system's CAs only
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get(url)
    async with httpx.AsyncClient() as c:  # plain HTTP gets no answer from a TLS listener
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            await c.get(f"http://127.0.0.1:{settings.http_port}/healthz")


async def test_grpc_over_tls_with_the_ca_and_refused_without(tls_service):
    settings, certs = tls_service
    target = f"127.0.0.1:{settings.grpc_port}"
    trusted = grpc.ssl_channel_credentials(root_certificates=certs.ca_file.read_bytes())
    async with grpc.aio.secure_channel(target, trusted) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                                timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    other = throwaway_ca.make(certs.ca_file.parent / "other", ca_name="another CA")
    untrusted = grpc.ssl_channel_credentials(root_certificates=other.ca_file.read_bytes())
    for channel in (grpc.aio.secure_channel(target, untrusted), grpc.aio.insecure_channel(target)):
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_half_a_tls_configuration_is_refused():
    # (by the settings themselves now, before the service connects to anything)
    with pytest.raises(ValueError, match="MINSHENG_TLS_KEY_FILE"):
        runtime.tls_files(ServiceSettings(environment="test", tls_cert_file="/etc/cert.pem"))


async def test_the_workbench_calls_services_over_tls_with_the_ca(tls_service):
    """MINSHENG_TLS_CA_FILE: the workbench's HTTP clients verify https:// upstreams against
    the CA, and its channel to dispatch's gRPC is TLS with the CA as root."""
    from services.workbench.adapters import upstream
    from services.workbench.settings import WorkbenchSettings

    settings, certs = tls_service
    url = f"https://127.0.0.1:{settings.http_port}"
    wb = WorkbenchSettings(environment="test", tls_ca_file=str(certs.ca_file), intake_url=url,
                           dispatch_grpc=f"127.0.0.1:{settings.grpc_port}")
    services = upstream.connect(wb)
    try:
        assert (await services.http["intake"].get("/healthz")).json()["status"] == "ok"
        answer = await health_pb2_grpc.HealthStub(services.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await services.close()
