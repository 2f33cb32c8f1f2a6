"""Nothing leaks (issue 18, item 7): names, phones, ID numbers and addresses planted through
every channel are then looked for everywhere the platform puts anything: every Kafka topic of
this platform (dead letters included), every log line of every process, the error bodies of bad
requests, the public hall, the dashboard and its data, the workbench's list, ticket pages and
xlsx export. 0 hits expected.

Ticket codes, UUIDs and hashes are cut out before scanning (a random code or hash can hold the
digits of a planted phone number), as tests/integration/feedback/test_hall.py does.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from backbone.kafka import client_options
from tests.e2e.platform_harness import Platform, eventually
from tests.integration.intake.samples import CHANNELS, SECRETS, sample
from tests.integration.intake.test_bus import to_request

pytestmark = pytest.mark.e2e

_OURS = re.compile(r"FY[-0-9A-Z]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}|[0-9a-fA-F]{32,}|[0-9]{10,}\.[0-9]+")


@pytest.fixture(scope="module")
def platform(infra):
    """Every service, isolated, each told where the others of THIS platform are."""
    p = Platform()
    p.env |= {"MINSHENG_IDENTITY_URL": p.url("identity"), "MINSHENG_INTAKE_URL": p.url("intake"),
              "MINSHENG_DISPATCH_URL": p.url("dispatch"),
              "MINSHENG_DISPATCH_GRPC": p.grpc_target("dispatch"),
              "MINSHENG_SLA_URL": p.url("sla"), "MINSHENG_FEEDBACK_URL": p.url("feedback"),
              "MINSHENG_INTAKE_FEEDBACK_URL": p.url("feedback"),
              "MINSHENG_AUDIT_URL": p.url("audit")}
    p.start_all()
    yield p
    p.stop_all()


def strip_ours(text: str) -> str:
    return _OURS.sub(" ", text)


class Scanner:
    """Looks for every planted value in what it is shown; keeps the figures."""

    def __init__(self) -> None:
        self.planted: set[str] = set(SECRETS)
        self.hits: list[str] = []
        self.seen: dict[str, int] = {}
        self.bytes: dict[str, int] = {}

    def plant(self, payload: Any) -> Any:
        """Remember the phones and names of a payload before it is sent."""
        text = repr(payload)
        self.planted |= set(re.findall(r"1[3-9]\d{9}", text))
        return payload

    def scan(self, where: str, data: bytes | str) -> None:
        text = data.decode("utf-8", "ignore") if isinstance(data, bytes) else data
        kind = where.split(":")[0]
        self.seen[kind] = self.seen.get(kind, 0) + 1
        self.bytes[kind] = self.bytes.get(kind, 0) + len(text)
        clean = strip_ours(text)
        self.hits += [f"{secret!r} in {where}: ...{clean[max(0, clean.find(secret) - 80):][:200]}"
                      for secret in self.planted if secret in clean]


def png_with_text(text: str) -> bytes:
    """A tiny PNG whose tEXt chunk carries personal data (metadata a phone might write)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"tEXt", b"Comment\x00" + text.encode())
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


async def _publish(platform, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(platform.settings))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(platform.topic("intake.requests"), value,
                                         key=key.encode())
    finally:
        await producer.stop()


async def _every_record(platform) -> tuple[list[str], list[Any]]:
    """Every record of every topic of this platform, from the beginning to the end."""
    lister = AIOKafkaConsumer(**client_options(platform.settings), group_id=None)
    await lister.start()
    try:
        prefix = platform.topic("")
        topics = sorted(t for t in await lister.topics() if t.startswith(prefix))
    finally:
        await lister.stop()
    consumer = AIOKafkaConsumer(*topics, **client_options(platform.settings), group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records: list[Any] = []
        while not consumer.assignment():
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records += batch
        parts = sorted(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return topics, records
    finally:
        await consumer.stop()


def _plant_everything(platform, scan: Scanner) -> tuple[list[str], set[bytes], dict[str, Any]]:
    """Every channel, with personal data in text, contact, address, fields and a photo;
    returns the codes made and the keys of the bus messages a misbehaving adapter published
    in clear. Error bodies of bad requests are scanned on the way."""
    codes: list[str] = []
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    scan.plant(phone)
    with platform.client("intake", "channel_adapter", sub="leak-http") as http:
        for channel in CHANNELS:  # 1. the HTTP API, every channel
            r = http.post("/v1/requests", json=scan.plant(sample(channel)))
            assert r.status_code == 201, r.text
            codes.append(r.json()["code"])
        photo = png_with_text("王秀英 " + phone + " 341202199001011234")  # 2. a photo
        ref = http.post("/v1/attachments", files={"file": ("p.png", photo, "image/png")}).json()
        with_photo = {**scan.plant(sample("wechat_mini")),  # its own matter: not merged
                      # nothing in common with the other plants' words or places, so the
                      # duplicate detector never merges it into their case
                      "openid": f"oX-{uuid.uuid4().hex[:8]}",
                      "text": "颍东区向阳公园东门的长椅坏了，钉子露出来，孩子玩耍容易受伤。"
                              "联系人王秀英，电话" + phone,
                      "location": {"lat": 32.93, "lon": 115.87},
                      "pictures": [{"sha256": ref["sha256"], "kind": "image"}]}
        r = http.post("/v1/requests", json=with_photo)
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
        photo_ticket = {"code": r.json()["code"], "sha256": ref["sha256"], "content": photo}
        bad = [  # 3. bad requests carrying personal data: their error bodies
            ("/v1/requests", {**sample("web"), "channel": "王秀英" + phone}),
            ("/v1/requests", {**sample("web"), "contact": {"phone": "王秀英" + phone + "x"}}),
            ("/v1/requests", {**sample("web"), "title": ""}),
            ("/v1/requests", {**sample("hotline_12345"), "caller_number": "张建国" + phone}),
            ("/v1/requests", {**sample("web"), "location": {"lat": "341202199001011234"}}),
            ("/v1/requests", {**sample("web"), "surprise": "李娜 " + phone}),
        ]
        for path, body in bad:
            r = http.post(path, json=scan.plant(body))
            assert 400 <= r.status_code < 500, (r.status_code, r.text)
            scan.scan(f"error body:{path}", r.text)
        for path in (f"/v1/tickets/王秀英{phone}", "/v1/tickets/341202199001011234"):
            r = http.get(path)
            assert 400 <= r.status_code < 500, r.text
            scan.scan(f"error body:{path}", r.text)
        r = http.post("/v1/attachments", files={"file": ("a.txt", f"王秀英 {phone}".encode())})
        assert r.status_code == 422, r.text
        scan.scan("error body:/v1/attachments", r.text)
    token = platform.token("channel_adapter", sub="leak-open311")
    form = {"api_key": token, "jurisdiction_id": "fuyang.gov.cn", "service_code": "road_damage",
            "lat": "32.9", "long": "115.82", "attribute[hazard]": "manhole",
            "first_name": "建国", "last_name": "张",
            "phone": phone, "address_string": "颍州区人民路128号3栋2单元501室",
            "description": "我是张建国，电话" + phone + "，身份证341202199001011234"}
    r = httpx.post(platform.url("intake") + "/open311/v2/requests.json", data=form, timeout=30)
    assert r.status_code == 201, r.text  # 4. Open311
    codes.append(r.json()[0]["service_request_id"])
    for fmt, extra in (("json", {"lat": "abc"}), ("xml", {"service_code": "王秀英" + phone})):
        r = httpx.post(platform.url("intake") + f"/open311/v2/requests.{fmt}",
                       data={**form, **extra}, timeout=30)
        assert 400 <= r.status_code < 500, r.text
        scan.scan(f"error body:open311.{fmt}", r.text)
    with platform.client("workbench", "channel_adapter", sub="leak-operator") as desk:
        call = {"caller_number": phone, "caller_name": "李娜",  # 5. the hotline desk
                "summary": "来电人李娜反映楼上漏水，身份证341202199001011234",
                "address": "颍州区人民路128号3栋2单元501室"}
        r = desk.post("/v1/hotline/calls", json=call)
        assert r.status_code == 201, r.text
        scan.scan("workbench answer:/v1/hotline/calls", r.text)
        r = desk.post("/v1/hotline/calls", json={**call, "caller_number": "王秀英"})
        assert 400 <= r.status_code < 500, r.text
        scan.scan("error body:/v1/hotline/calls", r.text)
    with httpx.Client(base_url=platform.url("intake"), timeout=30) as public:  # 6. citizens
        r = public.post("/v1/citizens/verification", json={"phone": phone})
        scan.scan("citizen answer:/v1/citizens/verification", r.text)
        r = public.post("/v1/citizens/verification", json={"phone": "王秀英" + phone})
        scan.scan("error body:/v1/citizens/verification", r.text)
    bus = []  # 7. the bus: sealed requests, one in clear (refused), garbage (dead letter)
    for channel in CHANNELS:
        payload = scan.plant(sample(channel))
        if channel == "mayor_mailbox":
            payload["contact"] = payload.pop("sender")
        bus.append(to_request(payload, platform.token("channel_adapter", sub="leak-bus")))
    clear = to_request(scan.plant(sample("web")), platform.token("channel_adapter",
                                                                 sub="leak-bus"), sealed=False)
    records = [(r.request_id, r.SerializeToString()) for r in [*bus, clear]]
    records.append(("junk", b"\xff\xfe not a protobuf " + "王秀英 13812345678".encode()))
    asyncio.run(_publish(platform, records))
    return codes, {clear.request_id.encode(), b"junk"}, photo_ticket


def _wait_for_the_platform(platform, codes: list[str]) -> None:
    """Until audit's ledger holds every HTTP ticket (every service has had the time to
    consume what intake published) and the bus requests are answered."""
    with platform.client("audit", "auditor") as audit:
        def all_recorded() -> bool:
            for code in codes:
                r = audit.get(f"/v1/tickets/{code}/history")
                if r.status_code != 200 or len(r.json().get("entries", [])) < 2:
                    return False
            return True

        eventually(all_recorded, timeout=120, interval=1.0,
                   what="every planted ticket in audit's ledger")


def _only_its_holders_see_the_photo(platform, photo: dict[str, Any]) -> None:
    """The unit dispatch assigned the ticket to (intake learns it from tickets.events) reads
    the photo; another unit and an auditor are refused."""
    url = platform.url("intake") + f"/open311/v2/requests/{photo['code']}.json"

    def handling_unit() -> str | None:
        return httpx.get(url, timeout=10).json()[0]["agency_responsible"]

    try:
        unit = eventually(handling_unit, timeout=10, what="dispatch's own assignment")
    except AssertionError:  # the classifier was unsure: a dispatcher assigns it by hand
        answers: list[str] = []
        with platform.client("dispatch", "dispatcher", sub="leak-dispatcher") as dispatch:
            def assigned() -> bool:
                r = dispatch.post(f"/v1/tickets/{photo['code']}/assign",
                                  json={"unit": "yingzhou"})
                answers.append(f"{r.status_code} {r.text[:300]}")
                return r.status_code < 300

            try:
                eventually(assigned, timeout=60, what="a dispatcher's assignment")
            except AssertionError:
                raise AssertionError(answers[-3:]) from None
        unit = eventually(handling_unit, timeout=60, what="intake told of the assignment")
    path = f"/v1/attachments/{photo['sha256']}"
    with platform.client("intake", "unit", unit=unit) as holder:
        got = holder.get(path, params={"why": "核实现场照片"})
        assert got.status_code == 200 and got.content == photo["content"], got.text
    other = "tanghe" if unit != "tanghe" else "yingzhou"
    with platform.client("intake", "unit", unit=other) as stranger:
        assert stranger.get(path).status_code == 403
    with platform.client("intake", "auditor") as auditor:
        assert auditor.get(path).status_code == 403
        reads = auditor.get("/v1/access-log", params={"ticket": photo["code"]}).json()["reads"]
        assert [(r["role"], r["unit"]) for r in reads] == [("unit", unit)], reads
        assert auditor.get("/v1/access-log/verify").json()["ok"]


def _scan_pages(platform, scan: Scanner, codes: list[str]) -> None:
    with httpx.Client(base_url=platform.url("feedback"), timeout=30) as public:  # the hall
        for params in ({}, {"keyword": "王秀英"}, {"keyword": "13812345678"},
                       {"keyword": "人民路"}):
            scan.scan(f"hall:/v1/hall {params}", public.get("/v1/hall", params=params).text)
        scan.scan("hall:/hall", public.get("/hall").text)
        for code in codes:
            scan.scan(f"hall:/v1/hall/{code}", public.get(f"/v1/hall/{code}").text)
    with httpx.Client(base_url=platform.url("analytics"), timeout=30) as public:
        scan.scan("dashboard:/dashboard", public.get("/dashboard").text)
    with platform.client("analytics", "supervisor") as analytics:  # the dashboard's data
        for path in ("/v1/kpis", "/v1/counts/units", "/v1/hot-topics", "/v1/map",
                     "/v1/months", "/v1/surges"):
            scan.scan(f"dashboard:{path}", analytics.get(path).text)
    with platform.client("workbench", "dispatcher", sub="leak-dispatcher") as bench:
        # the workbench's read model has the tickets (so its pages show something to scan)
        eventually(lambda: sum(c in bench.get("/v1/tickets").text for c in codes) >= 5,
                   timeout=60, what="the planted tickets in the workbench's list")
        scan.scan("workbench:/", bench.get("/").text)
        scan.scan("workbench:/login", bench.get("/login").text)
        scan.scan("workbench:/v1/tickets", bench.get("/v1/tickets").text)
        scan.scan("workbench:/v1/tickets?q", bench.get("/v1/tickets",
                                                       params={"q": "王秀英"}).text)
        for code in codes:
            scan.scan(f"workbench:/v1/tickets/{code}", bench.get(f"/v1/tickets/{code}").text)
        export = bench.get("/v1/tickets.xlsx")
        if export.status_code == 200:
            with zipfile.ZipFile(io.BytesIO(export.content)) as book:
                for name in book.namelist():
                    scan.scan(f"workbench:/v1/tickets.xlsx/{name}", book.read(name))


def test_planted_personal_data_is_found_nowhere(platform):
    scan = Scanner()
    codes, in_clear, photo = _plant_everything(platform, scan)
    _wait_for_the_platform(platform, codes)
    _only_its_holders_see_the_photo(platform, photo)
    with platform.client("intake", "supervisor") as staff:  # erase one, merge-free
        assert staff.post("/v1/citizens/erasure",
                          json={"ticket_code": codes[0]}).status_code == 200
    _scan_pages(platform, scan, codes)
    topics, records = asyncio.run(_every_record(platform))
    assert any(t.endswith("dead-letter") for t in topics), topics
    inbound, refused = platform.topic("intake.requests"), 0
    for r in records:
        if r.topic == inbound and r.key in in_clear:
            # What a misbehaving adapter wrote in clear stays on the inbound topic for its
            # retention (intake refused it, read nothing of it, and dead-lettered the junk
            # redacted); who may read that topic is the brokers' ACLs' business (item 5).
            refused += 1
            continue
        where = f"kafka:{r.topic}[{r.partition}]@{r.offset}"
        scan.scan(where, r.value or b"")
        scan.scan(where, r.key or b"")
        for name, value in r.headers or ():
            scan.scan(where + f" header {name}", value or b"")
    log_lines = 0
    for path in sorted(Path(platform.logs).glob("*.log")):
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1):
            log_lines += 1
            scan.scan(f"log:{path.name}:{number}", line)
    assert refused == 2, refused
    figures = {"topics": len(topics), "records": len(records), "log_lines": log_lines,
               "adapters_own_clear_messages_skipped": refused,
               "planted_values": len(scan.planted), "tickets": len(codes),
               **{f"scanned_{k}": v for k, v in sorted(scan.seen.items())},
               **{f"chars_{k}": v for k, v in sorted(scan.bytes.items())}}
    print("leak scan:", figures, "hits:", len(scan.hits))
    for hit in scan.hits:
        print("  hit:", hit[:300])
    assert len(records) > 50 and log_lines > 10, figures
    assert not scan.hits, scan.hits[:20]
