"""CPU of the HTTP handling alone for the hot routes, in process: the app of a tree driven as
uvicorn drives it (scope, receive, send), the route's work stubbed, so what is measured is the
framework and our layers around it (no sockets, no database).

    python -m bench.hot_routes --route requests|attachments|rating [--tree DIR] [--n 4000]

intake's POST /v1/requests (a simulator body, an adapter's token), POST /v1/attachments (one
40 KB picture, multipart) and feedback's POST /v1/ratings/link. `--tree` runs another checkout
(e.g. `git archive <rev> | tar -x -C /tmp/old`): this file is run with that tree first on the
path. Prints µs of CPU (process time, all threads) per request.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def _ok() -> tuple[bool, str]:
    return True, "ok"


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555),
            "headers": headers}


def _requests_app() -> tuple[Any, str, bytes, list[tuple[bytes, bytes]]]:
    from starlette.responses import JSONResponse

    from backbone import auth
    from bench import intake_load
    from services.intake import bootstrap
    from services.intake.entrypoints import fast_submit
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings()
    http = bootstrap._http(settings, SimpleNamespace(pg_ready=_ok, kafka_ready=_ok))
    answer = {"code": "FY-251127-00042-K", "ticket_id": "0d6f3c1e-8a51-4b8e-9f7e-3c2b1a0e1234",
              "status": "accepted", "replayed": False}
    lean = "limit" in inspect.signature(fast_submit.install).parameters  # the front door's

    async def submit(principal: Any, payload: Any, trace: str) -> Any:
        await asyncio.sleep(0)
        return (201, answer) if lean else JSONResponse(answer, status_code=201)

    if lean:
        fast_submit.install(http, submit, limit=settings.max_request_bytes)
    else:
        fast_submit.install(http, submit)  # type: ignore[call-arg]
    token = auth.mint(settings, sub="bench-adapter", role="channel_adapter")
    body = json.dumps(intake_load.bodies(1, seed=7000)[0]).encode()
    return http, "/v1/requests", body, [
        (b"host", b"x"), (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()), (b"authorization", f"Bearer {token}".encode())]


def _attachments_app() -> tuple[Any, str, bytes, list[tuple[bytes, bytes]]]:
    import httpx

    from backbone import auth
    from services.intake import bootstrap
    from services.intake.entrypoints import http_api
    from services.intake.settings import IntakeSettings

    class Store:
        def upload(self, content: bytes) -> Any:
            return SimpleNamespace(sha256="a" * 64, kind="image", mime="image/png",
                                   size=len(content)), True

    settings = IntakeSettings()
    http = bootstrap._http(settings, SimpleNamespace(pg_ready=_ok, kafka_ready=_ok))
    http.include_router(http_api.attachments_router(Store(), settings.max_attachment_bytes))
    try:
        from services.intake.entrypoints import fast_upload
    except ImportError:  # a tree without it: the route alone
        pass
    else:
        fast_upload.install(http, functools.partial(
            http_api.uploaded, Store(), settings.max_attachment_bytes),
            limit=settings.max_attachment_bytes + 64 * 1024)
    token = auth.mint(settings, sub="bench-adapter", role="channel_adapter")
    request = httpx.Request("POST", "http://x/v1/attachments",
                            files={"file": ("p.png", b"\x89PNG\r\n\x1a\n" + os.urandom(40_000))},
                            headers={"authorization": f"Bearer {token}"})
    return http, "/v1/attachments", request.read(), [
        (k.lower().encode(), v.encode()) for k, v in request.headers.items()]


def _rating_app() -> tuple[Any, str, bytes, list[tuple[bytes, bytes]]]:
    from starlette.responses import JSONResponse

    from backbone.http import create_app
    from services.feedback.entrypoints import errors, fast_rating, http_judging
    from services.feedback.settings import FeedbackSettings

    http = create_app(settings=FeedbackSettings(), title="feedback", description="",
                      readiness=[_ok])
    errors.install(http)
    answer = {"code": "FY-251127-00042-K", "status": "closed", "reply_round": 1,
              "verdict": "satisfied", "reopen_count": 0}
    lean = hasattr(fast_rating.FastRating, "_rated")  # the front door's

    async def rate(request: Any, body: Any) -> Any:
        await asyncio.sleep(0)
        http_judging.context(request)
        return answer if lean else JSONResponse(answer, status_code=201)

    fast_rating.install(http, body_type=http_judging.LinkRating, rate=rate)
    body = json.dumps({"token": "x" * 300, "rating": "satisfied", "comment": "很好",
                       "occurred_at": "2026-12-06T01:00:00+00:00"}).encode()
    return http, "/v1/ratings/link", body, [
        (b"host", b"x"), (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode())]


APPS = {"requests": _requests_app, "attachments": _attachments_app, "rating": _rating_app}


async def measure(route: str, n: int) -> float:
    http, path, body, headers = APPS[route]()
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def one() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            return messages.pop() if messages else {"type": "http.disconnect"}

        await http(_scope(path, headers), receive, send)

    for _ in range(200):  # warm: FastAPI builds its stack on the first request
        await one()
    assert sent[0]["status"] in (200, 201), sent[:2]
    began = time.process_time()
    for _ in range(n):
        await one()
    return (time.process_time() - began) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", choices=sorted(APPS), required=True)
    parser.add_argument("--tree", default=str(ROOT))
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inner:  # run in the tree's own imports
        tree = Path(args.tree).resolve()
        env = {**os.environ, "PYTHONPATH": f"{tree}:{tree}/proto",
               "MINSHENG_ENVIRONMENT": os.environ.get("MINSHENG_ENVIRONMENT", "development"),
               "MINSHENG_DATA": os.environ.get("MINSHENG_DATA", str(ROOT / ".data"))}
        # run_path: this file run as __main__ without its folder first on the path (bench/
        # holds a `profile` module that would shadow the standard library's)
        inner = ["--inner", "--route", args.route, "--n", str(args.n), "--tree", str(tree)]
        subprocess.run([sys.executable, "-c", "import runpy, sys; sys.argv = sys.argv[1:]; "
                        "runpy.run_path(sys.argv[0], run_name='__main__')",
                        str(Path(__file__).resolve()), *inner], env=env, cwd=tree, check=True)
        return
    us = asyncio.run(measure(args.route, args.n))
    print(json.dumps({"tree": args.tree, "route": args.route, "requests": args.n,
                      "cpu_us_per_request": round(us, 1)}))


if __name__ == "__main__":
    main()
