"""The gRPC guard every service's server runs (backbone.grpc_guard): garbage is the caller's
INVALID_ARGUMENT, PostgreSQL out of reach is UNAVAILABLE with a reason, a refusal the servicer
made itself passes untouched. A real grpc.aio server on a local port."""

import asyncio

import grpc
import psycopg
import pytest

from backbone.grpc_guard import RefuseMalformedRequests
from backbone.store import STORE_UNAVAILABLE_REASON


def strict(raw: bytes) -> bytes:
    if raw.startswith(b"\xff"):
        raise ValueError("not a message")
    return raw


async def answer(request: bytes, context) -> bytes:
    if request == b"store-down":
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    if request == b"refuse":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such ticket")
    return b"ok:" + request


async def stream(request: bytes, context):
    yield b"first"
    if request == b"store-down":
        raise psycopg.OperationalError("terminating connection due to administrator command")
    yield b"second"


class Handlers(grpc.GenericRpcHandler):
    def service(self, details):
        if details.method == "/t.T/Answer":
            return grpc.unary_unary_rpc_method_handler(
                answer, request_deserializer=strict, response_serializer=bytes)
        if details.method == "/t.T/Stream":
            return grpc.unary_stream_rpc_method_handler(
                stream, request_deserializer=strict, response_serializer=bytes)
        return None


async def call(port: int, method: str, body: bytes) -> tuple[grpc.StatusCode, str, list]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            if method == "Answer":
                got = await channel.unary_unary("/t.T/Answer")(body, timeout=10)
                return grpc.StatusCode.OK, "", [got]
            items = []
            async for item in channel.unary_stream("/t.T/Stream")(body, timeout=10):
                items.append(item)
            return grpc.StatusCode.OK, "", items
        except grpc.aio.AioRpcError as exc:
            return exc.code(), exc.details() or "", []


@pytest.mark.parametrize("method, body, code, reason", [
    ("Answer", b"hello", grpc.StatusCode.OK, ""),
    ("Answer", b"\xffgarbage", grpc.StatusCode.INVALID_ARGUMENT, "not a valid message"),
    ("Answer", b"store-down", grpc.StatusCode.UNAVAILABLE, STORE_UNAVAILABLE_REASON),
    ("Answer", b"refuse", grpc.StatusCode.NOT_FOUND, "no such ticket"),
    ("Stream", b"store-down", grpc.StatusCode.UNAVAILABLE, STORE_UNAVAILABLE_REASON),
    ("Stream", b"fine", grpc.StatusCode.OK, ""),
])
def test_the_guard_answers_with_the_right_status(method, body, code, reason):
    async def scenario():
        server = grpc.aio.server(interceptors=[RefuseMalformedRequests()])
        server.add_generic_rpc_handlers((Handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            return await call(port, method, body)
        finally:
            await server.stop(None)

    got_code, got_reason, items = asyncio.run(scenario())
    assert got_code == code
    assert reason in got_reason
    if code == grpc.StatusCode.OK:
        assert items and all(items)


@pytest.mark.parametrize("method, body, code", [
    ("Answer", b"hello", "OK"),
    ("Answer", b"\xffgarbage", "INVALID_ARGUMENT"),
    ("Answer", b"store-down", "UNAVAILABLE"),
    ("Answer", b"refuse", "NOT_FOUND"),
    ("Stream", b"store-down", "UNAVAILABLE"),
    ("Stream", b"fine", "OK"),
])
def test_every_call_is_counted_on_metrics_by_its_status(method, body, code):
    """The department API's calls were on no /metrics: an operator saw neither their number
    nor their refusals (HTTP routes are counted by status)."""
    from prometheus_client import REGISTRY

    from backbone.grpc_guard import CountRequests

    labels = {"service": "guard-test", "method": f"/t.T/{method}", "code": code}

    def counted() -> float:
        return REGISTRY.get_sample_value("minsheng_grpc_requests_total", labels) or 0.0

    async def scenario():
        server = grpc.aio.server(interceptors=[CountRequests("guard-test"),
                                               RefuseMalformedRequests()])
        server.add_generic_rpc_handlers((Handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            return await call(port, method, body)
        finally:
            await server.stop(None)

    before = counted()
    got_code, _, items = asyncio.run(scenario())
    assert got_code.name == code
    assert counted() == before + 1
    seconds = REGISTRY.get_sample_value("minsheng_grpc_request_seconds_count",
                                        {"service": "guard-test", "method": f"/t.T/{method}"})
    assert seconds and seconds >= 1
    if code == "OK":
        assert items and all(items)
