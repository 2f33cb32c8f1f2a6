"""A malformed gRPC request is the caller's error: INVALID_ARGUMENT with the reason; a store
out of reach is UNAVAILABLE (retry), as HTTP answers 503.

grpcio answers a request whose bytes do not parse as the method's message with UNKNOWN
("Unexpected DecodeError"), which reads as the server's fault. This interceptor parses the
request itself and refuses what does not parse, before the servicer sees it; and a servicer
that meets PostgreSQL restarting (backbone.store.STORE_UNAVAILABLE) answers UNAVAILABLE with
the reason instead of UNKNOWN.

`CountRequests` counts every call of a method the server has, by its status code, on
/metrics (`minsheng_grpc_requests_total`, `minsheng_grpc_request_seconds`), as every HTTP
route is: the department API's calls and refusals were seen nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from backbone.store import STORE_UNAVAILABLE, STORE_UNAVAILABLE_REASON


async def _parse(parse: Callable[[bytes], Any], raw: bytes, context: Any, method: str) -> Any:
    try:
        return parse(raw)
    except Exception as exc:  # DecodeError, or anything a deserializer raises on garbage
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"the request is not a valid message for {method}: "
                            f"{type(exc).__name__}")


class RefuseMalformedRequests(grpc.aio.ServerInterceptor):
    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        parse, method = handler.request_deserializer, details.method
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(raw: bytes, context: Any) -> Any:
                request = await _parse(parse, raw, context, method)
                try:
                    return await inner(request, context)
                except STORE_UNAVAILABLE:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, STORE_UNAVAILABLE_REASON)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(raw: bytes, context: Any) -> AsyncIterator[Any]:
                result = inner_stream(await _parse(parse, raw, context, method), context)
                try:
                    if hasattr(result, "__aiter__"):
                        async for item in result:
                            yield item
                    else:  # a servicer that writes with context.write()
                        await result
                except STORE_UNAVAILABLE:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, STORE_UNAVAILABLE_REASON)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, response_serializer=handler.response_serializer)
        return handler


REQUESTS = Counter("minsheng_grpc_requests_total", "gRPC calls, by method and status code",
                   ["service", "method", "code"])
LATENCY = Histogram("minsheng_grpc_request_seconds",
                    "gRPC call latency (a stream: until it ends)", ["service", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def status_name(context: Any, failure: BaseException | None) -> str:
    """The status a call ended with: what the servicer set or aborted with; UNKNOWN for an
    exception grpcio turns into UNKNOWN; CANCELLED when the client went away."""
    code = context.code()
    if isinstance(code, int):
        code = _CODES.get(code)
    if isinstance(code, grpc.StatusCode):
        return code.name
    if failure is None or isinstance(failure, grpc.aio.AbortError):
        return "OK"
    if isinstance(failure, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


@contextlib.contextmanager
def measured(took: Any, service: str, method: str, context: Any) -> Iterator[None]:
    """Times a call into `took` and counts it by the status it ended with."""
    start, failure = time.perf_counter(), None
    try:
        yield
    except BaseException as exc:
        failure = exc
        raise
    finally:
        took.observe(time.perf_counter() - start)
        REQUESTS.labels(service, method, status_name(context, failure)).inc()


class CountRequests(grpc.aio.ServerInterceptor):
    """Outermost: counts what the caller received, refusals of the interceptors after it
    included."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming:  # (no such method: grpcio's answer)
            return handler
        took = LATENCY.labels(self.service, details.method)
        service, method = self.service, details.method
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                with measured(took, service, method, context):
                    return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                with measured(took, service, method, context):
                    result = inner_stream(request, context)
                    if hasattr(result, "__aiter__"):
                        async for item in result:
                            yield item
                    else:  # a servicer that writes with context.write()
                        await result

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler
