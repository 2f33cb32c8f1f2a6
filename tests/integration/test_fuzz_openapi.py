"""Generated fuzzing of every service's API (issue 18, item 6).

Every HTTP service runs as its own process on an isolated prefix and schemas
(tests/integration/wire/platform.py). Then:

- schemathesis draws requests from each service's own OpenAPI (valid ones, and ones that break
  the schema), with tokens of the roles that use the service: 0 server errors (5xx) and 0
  responses that break their own documented schema;
- hypothesis throws random and garbage fields at the gRPC APIs (dispatch's DepartmentService,
  audit's AuditService): every answer is a status with a reason, never UNKNOWN or INTERNAL;
- the access matrix: every role x every endpoint of dispatch, sla, feedback, audit and intake
  (and the unit's own unit / another unit): who may not is refused with 401/403, every time.

Bounded: MINSHENG_FUZZ_EXAMPLES (default 5) examples per operation and generation mode.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict

import grpc
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.integration.wire.platform import SERVICES, Platform

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("MINSHENG_FUZZ_EXAMPLES", "5"))

# the roles whose tokens a service's fuzzing uses (one drawn per request)
ROLES = {
    "identity": ("supervisor", "dispatcher"),
    "intake": ("channel_adapter", "dispatcher", "supervisor", "unit"),
    "dispatch": ("dispatcher", "supervisor", "unit"),
    "sla": ("supervisor", "unit", "dispatcher"),
    "feedback": ("supervisor", "dispatcher", "unit", "channel_adapter"),
    "analytics": ("supervisor", "observer", "deputy"),
    "audit": ("auditor", "supervisor"),
    "workbench": ("dispatcher", "supervisor", "unit"),
    "notifier": ("dispatcher", "supervisor"),
}


@pytest.fixture(scope="module")
def platform(infra):
    # the fuzzer and the matrix call the public endpoints far more often than one person may
    # (their limits: 429, tested in their services' own tests); here the handlers are the point
    p = Platform(extra_env={
        "feedback": {"MINSHENG_HALL_REQUESTS_PER_MINUTE": "1000000",
                     "MINSHENG_RATING_LINK_REQUESTS_PER_MINUTE": "1000000"},
        "intake": {"MINSHENG_CITIZEN_SIGN_INS_PER_MINUTE": "1000000"},
        "identity": {"MINSHENG_LOGINS_PER_MINUTE": "1000000"}})
    try:
        p.start()
        yield p
    finally:
        p.stop()


def _fuzz_settings():
    return settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def _schema(platform: Platform, service: str):
    return schemathesis.openapi.from_url(f"{platform.url(service)}/openapi.json")


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_fuzzing_finds_no_server_error_and_no_schema_break(platform, service):
    schema = _schema(platform, service)
    tokens = [platform.token(r) for r in ROLES[service]]
    problems: dict[str, list[str]] = defaultdict(list)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    with requests_session() as session:
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(op, mode, platform.url(service), tokens, session, problems[op.label])
    problems = {k: v for k, v in problems.items() if v}
    report = {k: v[:3] for k, v in problems.items()}
    assert not problems, f"{service}: {sum(map(len, problems.values()))} failures in " \
                         f"{len(problems)} operations:\n" + "\n".join(
                             f"  {k}:\n    " + "\n    ".join(v) for k, v in report.items())


def _fuzz(op, mode, base_url: str, tokens: list[str], session, problems: list[str]) -> None:
    """EXAMPLES requests drawn for one operation; every failed check noted in `problems`."""
    try:
        strategy = op.as_strategy(generation_mode=mode)
    except Exception as exc:  # a schema schemathesis cannot draw from
        problems.append(f"no strategy ({mode.value}): {exc}")
        return

    @_fuzz_settings()
    @given(case=strategy, token=st.sampled_from(tokens))
    def run(case, token):
        headers = {"authorization": f"Bearer {token}"}
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=20)
        if response.status_code == 503 and _designed_unavailable(503, _body(response)):
            return
        try:
            case.validate_response(response, checks=[not_a_server_error,
                                                     response_schema_conformance],
                                   headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collect; report at the end
            problems.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{_first_line(exc)} | body {_body(response)[:300]!r}")

    try:
        run()
    except Unsatisfiable:  # no way to break this operation's (empty) schema
        if mode is GenerationMode.POSITIVE:
            problems.append("no valid request can be drawn")


def _body(response) -> str:
    """The body as text, whatever it holds (an xlsx, a photo)."""
    return response.content.decode("utf-8", "replace")


def _designed_unavailable(status: int, text: str) -> bool:
    """503 because PostgreSQL went away (as when another test on the shared server terminates
    connections): the services' designed answer, with Retry-After, not a fault of theirs;
    likewise /readyz saying not ready."""
    return status == 503 and ('"error":"unavailable"' in text or '"ready":false' in text)


def _first_line(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None) or [exc]
    text = " / ".join(" ".join(str(e).strip().splitlines()[:3]) for e in inner)
    return re.sub(r"\s+", " ", text)[:400]


class requests_session:  # noqa: N801
    def __enter__(self):
        import requests

        self.session = requests.Session()
        return self.session

    def __exit__(self, *exc: object) -> None:
        self.session.close()


def test_every_service_is_covered():
    assert set(ROLES) == set(SERVICES)
    assert httpx  # (the access matrix below speaks httpx)
    assert grpc


# --------------------------------------------------------------------------- the access matrix
MATRIX_SERVICES = ("dispatch", "sla", "feedback", "audit", "intake", "analytics", "workbench",
                   "notifier", "identity")
OWN, OTHER = "yingzhou", "taihe"  # two units of the seed registry
PLACEHOLDER = {"code": "FY00000000000", "sha256": "0" * 64, "ticket_id": "0" * 32}


def _fill(name: str, schema: dict) -> str:
    if name in PLACEHOLDER:
        return PLACEHOLDER[name]
    if name == "unit":
        return OWN
    kind = schema.get("type") or next((s.get("type") for s in schema.get("anyOf", [])
                                       if s.get("type") not in (None, "null")), "string")
    if schema.get("enum"):
        return str(schema["enum"][0])
    return {"integer": "1", "number": "1", "boolean": "true"}.get(kind, "x")


def _requests(spec: dict) -> list[tuple[str, str, dict, bool, set[str] | None, bool]]:
    """(method, path, query, needs a token, roles admitted, takes a unit) per operation."""
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = op.get("parameters", [])
            filled = path
            query = {}
            for p in params:
                value = _fill(p["name"], p.get("schema", {}))
                if p["in"] == "path":
                    filled = filled.replace("{" + p["name"] + "}", value)
                elif p["in"] == "query" and (p.get("required") or p["name"] == "unit"):
                    query[p["name"]] = value
            takes_unit = any(p["name"] == "unit" for p in params)
            roles = set(op["x-roles"]) if "x-roles" in op else None
            out.append((method.upper(), filled, query, "security" in op, roles, takes_unit))
    return out


def _call(client: httpx.Client, method: str, path: str, query: dict, token: str | None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, params=query, headers=headers, json=body)


def _scoped(response: httpx.Response, unit: str) -> bool:
    """A list answered for the token's own unit only (the unit filter overridden by the
    token's unit, as the workbench does): no item of another unit."""
    if response.status_code != 200:
        return False
    if response.headers.get("content-type", "").startswith("application/vnd.openxmlformats"):
        from io import BytesIO

        from openpyxl import load_workbook

        rows = list(load_workbook(BytesIO(response.content)).active.values)[1:]
        return all(OTHER not in map(str, row) for row in rows)
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else None
    return isinstance(items, list) and all(
        not isinstance(i, dict) or i.get("unit", unit) == unit for i in items)


@pytest.mark.parametrize("service", MATRIX_SERVICES)
def test_access_matrix_every_role_every_endpoint(platform, service):
    """Every role (the unit's own unit and another's) x every operation: a role the operation's
    `require` does not admit gets 403 with a reason, every time; no token, a forged one, one
    for another service or an expired one gets 401; an admitted role is never refused."""
    from backbone import auth

    spec = httpx.get(f"{platform.url(service)}/openapi.json", timeout=10).json()
    operations = _requests(spec)
    secured = [o for o in operations if o[3]]
    assert secured, f"{service}: no operation documents its security"
    staff = platform.token("supervisor")
    bad_tokens = {
        "none": None, "garbage": "not-a-token", "legacy": "ms1.eyJ9.c2ln",
        "forged": staff[:-6] + ("AAAAAA" if not staff.endswith("AAAAAA") else "BBBBBB"),
        "other audience": auth.mint(platform.settings, sub="s", role="supervisor",
                                    audience=["elsewhere"]),
        "expired": auth.mint(platform.settings, sub="s", role="supervisor", ttl_s=-120),
    }

    def fresh_tokens() -> dict[tuple[str, str], str]:
        """New tokens per operation: an operation may revoke the one it is called with
        (identity's logout), which is right, and must not spoil the next operation's check."""
        tokens = {(r, ""): platform.token(r) for r in auth.ROLES if r not in ("unit", "citizen")}
        tokens[("unit", OWN)] = platform.token("unit", unit=OWN)
        tokens[("citizen", "")] = platform.token("citizen", ticket=PLACEHOLDER["code"])
        return tokens

    wrong: list[str] = []
    counted = {"refusals": 0, "admitted": 0}
    with httpx.Client(base_url=platform.url(service), timeout=30) as client:
        for method, path, query, needs_token, roles, takes_unit in operations:
            where = f"{method} {path}"
            if needs_token:
                for what, token in bad_tokens.items():
                    r = _call(client, method, path, query, token)
                    counted["refusals"] += 1
                    if r.status_code != 401:
                        wrong.append(f"{where} with {what} token -> {r.status_code}")
            for (role, _unit), token in fresh_tokens().items():
                r = _call(client, method, path, query, token)
                if r.status_code >= 500 and not _designed_unavailable(r.status_code, _body(r)):
                    wrong.append(f"{where} as {role} -> {r.status_code} {_body(r)[:120]}")
                if not needs_token or roles is None:
                    continue
                if role not in roles:
                    counted["refusals"] += 1
                    if r.status_code != 403 or not r.json().get("detail"):
                        wrong.append(f"{where} as {role} (admitted: {sorted(roles)}) -> "
                                     f"{r.status_code} {_body(r)[:120]}")
                else:
                    counted["admitted"] += 1
                    if r.status_code == 401:
                        wrong.append(f"{where} as admitted {role} -> 401 {_body(r)[:120]}")
                if role == "unit" and role in roles and takes_unit:
                    # the same operation for another unit than the token's
                    other = _call(client, method, path, {**query, "unit": OTHER}, token)
                    counted["refusals"] += 1
                    if other.status_code not in (403, 404) and not _scoped(other, OWN):
                        wrong.append(f"{where}?unit={OTHER} as unit {OWN} -> "
                                     f"{other.status_code} {_body(other)[:120]}")
    assert not wrong, f"{service}: {len(wrong)} wrong of {counted}:\n  " + "\n  ".join(wrong)
    assert counted["refusals"] > 0


# --------------------------------------------------------------------------- gRPC fuzzing
GRPC_APIS = {  # service -> (full service name, its generated module, the tokens' roles)
    "dispatch": ("minsheng.v1.DepartmentService", "minsheng.v1.dispatch_api_pb2", ("unit",)),
    "audit": ("minsheng.v1.AuditService", "minsheng.v1.audit_api_pb2", ("auditor", "supervisor")),
}
NEVER = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
GARBAGE_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", " ", "\x00", "../../etc/passwd", "FY" + "9" * 300, "'; DROP TABLE x;--", "💥" * 50,
     "yingzhou", "taihe", "0" * 32]))


def _message(descriptor, depth: int = 0):
    """Any message of this type: every field random or garbage, nested up to two levels."""
    from google.protobuf import message_factory
    from google.protobuf.descriptor import FieldDescriptor as F

    cls = message_factory.GetMessageClass(descriptor)
    fields = {}
    for f in descriptor.fields:
        if f.type == F.TYPE_MESSAGE:
            if depth >= 2:
                continue
            one = _message(f.message_type, depth + 1)
        elif f.type == F.TYPE_STRING:
            one = GARBAGE_TEXT
        elif f.type == F.TYPE_BYTES:
            one = st.binary(max_size=64)
        elif f.type == F.TYPE_BOOL:
            one = st.booleans()
        elif f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            one = st.floats(allow_nan=True, allow_infinity=True, width=32)
        elif f.type == F.TYPE_ENUM:
            one = st.integers(-3, 40)  # valid and unknown enum numbers
        elif f.type in (F.TYPE_UINT32, F.TYPE_FIXED32):
            one = st.integers(0, 2**32 - 1)
        elif f.type in (F.TYPE_UINT64, F.TYPE_FIXED64):
            one = st.integers(0, 2**64 - 1)
        elif f.type in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
            one = st.integers(-(2**63), 2**63 - 1)
        else:
            one = st.integers(-(2**31), 2**31 - 1)
        is_repeated = getattr(f, "is_repeated", None)
        repeated = is_repeated if isinstance(is_repeated, bool) else f.label == F.LABEL_REPEATED
        fields[f.name] = st.lists(one, max_size=3) if repeated else st.one_of(st.none(), one)

    def build(values):
        msg = cls()
        for name, value in values.items():
            if value is None:
                continue
            field = descriptor.fields_by_name[name]
            target = getattr(msg, name)
            try:
                if field.type == F.TYPE_MESSAGE:
                    if isinstance(value, list):
                        for v in value:
                            target.add().CopyFrom(v)
                    else:
                        target.CopyFrom(value)
                elif isinstance(value, list):
                    target.extend(value)
                else:
                    setattr(msg, name, value)
            except (ValueError, TypeError):  # e.g. a closed enum refusing an unknown number
                continue
        return msg

    return st.fixed_dictionaries(fields).map(build)


@pytest.mark.parametrize("service", sorted(GRPC_APIS))
def test_grpc_fuzzing_answers_a_status_with_a_reason(platform, service):
    import importlib

    full_name, module, roles = GRPC_APIS[service]
    descriptor = importlib.import_module(module).DESCRIPTOR.services_by_name[
        full_name.rsplit(".", 1)[1]]
    tokens = [platform.token(r) for r in roles] + [None, "garbage",
                                                     platform.token("dispatcher")]
    target = f"127.0.0.1:{platform.grpc[service]}"
    wrong: list[str] = []
    calls = 0
    with grpc.insecure_channel(target) as channel:
        for method in descriptor.methods:
            calls += _fuzz_method(channel, full_name, method, tokens, wrong)
    assert calls > 0
    assert not wrong, f"{service}: {len(wrong)} of {calls} calls:\n  " + "\n  ".join(wrong[:15])


def _fuzz_method(channel, full_name: str, method, tokens: list, wrong: list[str]) -> int:
    """EXAMPLES calls of one method with random messages or raw garbage bytes."""
    streaming = method.server_streaming
    invoke = (channel.unary_stream if streaming else channel.unary_unary)(
        f"/{full_name}/{method.name}", request_serializer=lambda m: m if isinstance(m, bytes)
        else m.SerializeToString(), response_deserializer=lambda b: b)
    calls = 0

    @_fuzz_settings()
    @given(request=st.one_of(_message(method.input_type), st.binary(max_size=80)),
           token=st.sampled_from(tokens))
    def run(request, token):
        nonlocal calls
        calls += 1
        metadata = [("authorization", f"Bearer {token}")] if token else []
        try:
            answer = invoke(request, metadata=metadata, timeout=3)
            if streaming:
                for _ in answer:  # a live stream: its first messages, then the deadline
                    pass
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code in NEVER or (code != grpc.StatusCode.DEADLINE_EXCEEDED
                                 and not details.strip()):
                wrong.append(f"{method.name}: {code} {details[:160]!r} for {request!r:.200}")

    run()
    return calls
