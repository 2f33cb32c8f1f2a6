"""A malformed gRPC request is the caller's error: INVALID_ARGUMENT with the reason; a store
out of reach is UNAVAILABLE (retry), as HTTP answers 503.

grpcio answers a request whose bytes do not parse as the method's message with UNKNOWN
("Unexpected DecodeError"), which reads as the server's fault. This interceptor parses the
request itself and refuses what does not parse, before the servicer sees it; and a servicer
that meets PostgreSQL restarting (backbone.store.STORE_UNAVAILABLE) answers UNAVAILABLE with
the reason instead of UNKNOWN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

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
