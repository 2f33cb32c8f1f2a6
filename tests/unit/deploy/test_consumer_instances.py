"""Every process `make up` starts is a static member of its consumer groups under a name of its
own (MINSHENG_CONSUMER_INSTANCE -> Kafka's group.instance.id): the same name each time it is
started, so a process killed and restarted takes its partitions back at once; never the same
name as another process (the group would fence one of them), whatever the shell held."""

from __future__ import annotations

from pathlib import Path

from backbone.consumer import Handlers, IdempotentConsumer, static_member_id
from backbone.settings import ServiceSettings
from tests import local_files


def _services(monkeypatch, tmp_path: Path, replicas: int):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    monkeypatch.setenv("MINSHENG_LOCAL_REPLICAS", str(replicas))
    monkeypatch.setenv("MINSHENG_LOCAL_SECURE_BUS", "0")
    monkeypatch.delenv("MINSHENG_LOCAL_CLUSTER", raising=False)
    return local_files.load("deploy/local/services.py", "services_instances_under_test")


def test_each_process_has_its_own_stable_instance_name(monkeypatch, tmp_path):
    services = _services(monkeypatch, tmp_path, replicas=2)
    shell = {"MINSHENG_CONSUMER_INSTANCE": "from-the-shell", "MINSHENG_LOCAL_SECURE_BUS": "0"}
    names = {}
    for service in services.SERVICES:
        for process in services.processes(service):
            name = services.process_env(service, process, dict(shell))["MINSHENG_CONSUMER_INSTANCE"]
            assert name == services.process_env(service, process, dict(shell))[
                "MINSHENG_CONSUMER_INSTANCE"]  # the same when started again
            names[process] = name
    assert len(set(names.values())) == len(names), names
    assert "from-the-shell" not in names.values()
    assert names["dispatch"] == "dispatch.1" and names["dispatch.2"] == "dispatch.2"
    assert names["intake-projector"] == "intake-projector.1"


def _consumer(instance: str) -> IdempotentConsumer:
    settings = ServiceSettings(environment="development", consumer_instance=instance)
    return IdempotentConsumer(name="unit", settings=settings, pool=None,  # type: ignore[arg-type]
                              topics=["t"], handlers=Handlers({"TicketAccepted": print}),
                              producer=None)


async def test_the_consumer_joins_as_a_static_member_only_when_named():
    static = _consumer("dispatch.2")._make_consumer()
    dynamic = _consumer("")._make_consumer()
    # the process's name and a digest of its topics (backbone.consumer.static_member_id)
    assert static._group_instance_id == static_member_id("dispatch.2", ["t"])
    assert static._group_instance_id.startswith("dispatch.2.")
    assert dynamic._group_instance_id is None
    assert static._group_id == dynamic._group_id == "minsheng.unit"
