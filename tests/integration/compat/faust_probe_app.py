"""A minimal faust-streaming app (agent + changelog-backed table) used to check that
faust-streaming works against the Kafka broker the project runs (see docs/kafka-version.md)."""

import os

import faust

PREFIX = os.environ["PROBE_PREFIX"]
app = faust.App(f"{PREFIX}-app", broker=f"kafka://{os.environ['PROBE_BROKER']}",
                store="memory://", topic_partitions=3, web_enabled=False,
                topic_allow_declare=True, processing_guarantee="exactly_once")
source = app.topic(f"{PREFIX}.src", key_type=bytes, value_type=bytes, partitions=3,
                   key_serializer="raw", value_serializer="raw")
sink = app.topic(f"{PREFIX}.out", value_type=bytes, partitions=1, value_serializer="raw")
counts = app.Table(f"{PREFIX}-counts", default=int, partitions=3, key_type=bytes,
                   value_type=int)


@app.agent(source)
async def count(stream):
    async for key, _value in stream.items():
        counts[key] += 1
        await sink.send(value=f"{key.decode()}={counts[key]}".encode())
