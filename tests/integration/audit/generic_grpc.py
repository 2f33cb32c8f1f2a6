"""A generic gRPC client, as an outside auditor's tool would be: it knows no generated code and
learns AuditService and its messages from the server's reflection service."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.json_format import MessageToDict, ParseDict
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "minsheng.v1.AuditService"


def discover(channel: grpc.Channel) -> tuple[list[str], Any]:
    """(services the server lists, the AuditService descriptor), by reflection only."""
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    return list(database.get_services()), pool.FindServiceByName(SERVICE)


def call_stream(target: str, method: str, request: dict[str, Any], token: str | None,
                timeout: float = 30) -> list[dict[str, Any]]:
    """Call a server-streaming method of AuditService with a JSON-like request; the replies
    as dicts (bytes as base64, as grpcurl prints them)."""
    with grpc.insecure_channel(target) as channel:
        _, service = discover(channel)
        m = service.methods_by_name[method]
        request_class = message_factory.GetMessageClass(m.input_type)
        reply_class = message_factory.GetMessageClass(m.output_type)
        call = channel.unary_stream(f"/{SERVICE}/{method}",
                                    request_serializer=lambda r: r.SerializeToString(),
                                    response_deserializer=reply_class.FromString)
        metadata = [("authorization", f"Bearer {token}")] if token else []
        replies = call(ParseDict(request, request_class()), metadata=metadata, timeout=timeout)
        return [MessageToDict(r, preserving_proto_field_name=True) for r in replies]
