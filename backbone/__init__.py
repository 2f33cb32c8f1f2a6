"""Shared plumbing for every Minsheng service, with no domain logic in it.

settings   one settings class per service, from environment variables
logs       JSON log lines carrying ticket id and trace id
events     the protobuf envelope: codec, deterministic event ids, owners, trace context
store      eventsourcing applications on PostgreSQL, with consumer positions and event context
relay      the outbox relay: a service's notification log -> Kafka (idempotent, acks=all)
consumer   the idempotent consumer: effects and the record of processing in one transaction
kafka      producer/admin factories and the topic catalogue
auth       signed role tokens for HTTP and gRPC
http       /healthz, /readyz, /metrics and error handling for FastAPI apps
runtime    one process per service: HTTP + gRPC + relay + consumers, with clean shutdown
"""
