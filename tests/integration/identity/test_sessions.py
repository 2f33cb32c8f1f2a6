"""Identity against the real PostgreSQL: log in, tokens every service accepts, lockout held
across replicas, logout revoking everywhere, disabled accounts, the keys, the admin command."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import httpx
import pytest

from backbone import auth
from backbone.settings import ServiceSettings
from services.identity.entrypoints import cli
from tests.integration.identity.conftest import running_identity
from tests.waiting import patient

PASSWORD = "correct-horse-电池-staple"


def user() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def dispatch_settings(identity) -> ServiceSettings:
    """A dispatch service's view: it reads identity's revocation table every 0.2 s."""
    return ServiceSettings(environment="development", service="dispatch",
                           token_revocation_schema=identity.settings.schema,
                           token_revocation_refresh_s=0.2)


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/v1/sessions", json={"username": username, "password": password})


async def test_a_staff_login_gives_a_token_every_service_accepts(identity):
    name = user()
    identity.add_user(name, PASSWORD, role="unit", unit="yingzhou", name="颍州区政府")
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        answer = await login(http, name.upper(), PASSWORD)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert (body["role"], body["unit"], body["display_name"]) == \
            ("unit", "yingzhou", "颍州区政府")
        assert 8 * 3600 - 60 < body["expires_in_s"] <= 8 * 3600
        me = await http.get("/v1/sessions/current",
                            headers={"authorization": f"Bearer {body['token']}"})
        assert me.status_code == 200 and me.json()["sub"] == name
        assert me.json()["expires_at"] == body["expires_at"]  # one form for one field
    for service in ("dispatch", "sla", "audit", "workbench"):
        who = auth.verify(ServiceSettings(environment="development", service=service,
                                          token_revocation_check=False), body["token"])
        assert (who.sub, who.role, who.unit) == (name, "unit", "yingzhou")


async def test_wrong_unknown_and_malformed_logins_are_refused_without_telling_which(identity):
    name = user()
    identity.add_user(name, PASSWORD)
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        wrong = await login(http, name, PASSWORD + "x")
        unknown = await login(http, user(), PASSWORD)
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong username or password"
        for bad in ({}, {"username": name}, {"username": name, "password": ""},
                    {"username": name, "password": PASSWORD, "role": "supervisor"},
                    {"username": "x" * 65, "password": PASSWORD},
                    {"username": name, "password": "p" * 257}):
            refused = await http.post("/v1/sessions", json=bad)
            assert refused.status_code == 422, (bad, refused.text)
        junk = await http.post("/v1/sessions", content=b"\xff{", headers={
            "content-type": "application/json"})
        assert 400 <= junk.status_code < 500
        legacy = await http.get("/v1/sessions/current",
                                headers={"authorization": "Bearer ms1.e30.c2ln"})
        assert legacy.status_code == 401
        assert "legacy ms1 token format is no longer accepted" in legacy.json()["detail"]


async def test_five_failures_lock_the_account_on_every_replica(identity):
    name = user()
    identity.add_user(name, PASSWORD)
    replica_settings = identity.settings.model_copy(update={"http_port": _other_port()})
    async with running_identity(replica_settings) as replica, \
            httpx.AsyncClient(base_url=identity.url, timeout=60) as first, \
            httpx.AsyncClient(base_url=replica.url, timeout=60) as second:
        for i in range(5):  # spread over both replicas
            refused = await login(first if i % 2 else second, name, f"wrong-{i}-password")
            assert refused.status_code == 401
        for http in (first, second):
            locked = await login(http, name, PASSWORD)  # even the right password
            assert locked.status_code == 423, locked.text
            assert 800 < int(locked.headers["retry-after"]) <= 900
            assert "locked" in locked.json()["detail"]
    other = user()
    identity.add_user(other, PASSWORD)
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        assert (await login(http, other, PASSWORD)).status_code == 201  # others unaffected


def _other_port() -> int:
    from tests.integration.identity.conftest import free_port

    return free_port()


async def test_logout_revokes_the_token_at_every_service_within_seconds(identity):
    name = user()
    identity.add_user(name, PASSWORD, role="supervisor")
    dispatch = auth.verifier_for(dispatch_settings(identity))
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        token = (await login(http, name, PASSWORD)).json()["token"]
        bearer = {"authorization": f"Bearer {token}"}
        assert dispatch.verify(token).role == "supervisor"
        assert (await http.delete("/v1/sessions/current", headers=bearer)).status_code == 204
        again = await http.get("/v1/sessions/current", headers=bearer)
        assert again.status_code == 401 and "revoked" in again.json()["detail"]
    deadline = time.monotonic() + patient(10)
    while True:
        try:
            dispatch.verify(token)
        except auth.AuthError as exc:
            assert "revoked" in str(exc)
            break
        assert time.monotonic() < deadline, "dispatch still accepts a logged-out token"
        await asyncio.sleep(0.1)


async def test_disabling_a_user_ends_their_sessions_and_logins(identity):
    name = user()
    identity.add_user(name, PASSWORD, role="auditor")
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        token = (await login(http, name, PASSWORD)).json()["token"]
        assert identity.sessions.disable(name) == 1
        bearer = {"authorization": f"Bearer {token}"}
        assert (await http.get("/v1/sessions/current", headers=bearer)).status_code == 401
        refused = await login(http, name, PASSWORD)
        assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
        identity.sessions.disable(name, False)
        assert (await login(http, name, PASSWORD)).status_code == 201


async def test_the_public_keys_and_the_revocation_list_are_published(identity):
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        jwks = (await http.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in jwks["keys"]} >= {"identity-dev", "citizen-dev"}
        assert all("d" not in k for k in jwks["keys"])  # public halves only
        assert (await http.get("/v1/revocations")).status_code == 401
        token = auth.mint(identity.settings, sub="ops", role="auditor")
        listed = await http.get("/v1/revocations", headers={"authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and isinstance(listed.json()["revoked"], list)


async def test_the_login_page_is_chinese_self_contained_and_redirects_only_where_allowed(
        identity):
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        page = await http.get("/login", params={"next": "/v1/sessions/current"})
        assert page.status_code == 200 and "工作人员登录" in page.text
        assert 'sessionStorage.setItem("minsheng.token"' in page.text
        assert "src=\"http" not in page.text and "href=\"http" not in page.text  # no CDN
        assert '"next": "/v1/sessions/current"' in page.text
        for evil in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)",
                     "/\\evil.example"):
            page = await http.get("/login", params={"next": evil})
            assert '"next": ""' in page.text, evil
        workbench = await http.get("/login", params={"next": "http://127.0.0.1:8108/desk"})
        assert '"cross": true' in workbench.text


async def test_the_admin_command_reads_passwords_from_stdin_only(identity, monkeypatch, capsys):
    monkeypatch.setenv("MINSHENG_ENVIRONMENT", "development")
    monkeypatch.setenv("MINSHENG_PG_SCHEMA", identity.settings.schema)
    name = user()
    assert cli.main(["add", name, "--role", "unit", "--unit", "chengnan", "--name", "城南"],
                    stdin=io.StringIO(PASSWORD + "\n")) == 0
    assert cli.main(["add", name, "--role", "dispatcher", "--name", "x"],
                    stdin=io.StringIO(PASSWORD + "\n")) == 2  # exists
    assert cli.main(["add", user(), "--role", "dispatcher", "--name", "x"],
                    stdin=io.StringIO("short\n")) == 2
    with pytest.raises(SystemExit):
        cli.main(["add", user(), "--role", "citizen", "--name", "x"], stdin=io.StringIO(""))
    assert cli.main(["list"]) == 0
    assert name in capsys.readouterr().out
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        assert (await login(http, name, PASSWORD)).status_code == 201
        assert cli.main(["passwd", name], stdin=io.StringIO("another-good-password\n")) == 0
        assert (await login(http, name, PASSWORD)).status_code == 401
        assert (await login(http, name, "another-good-password")).status_code == 201
