"""Front-end files vendored from npm (ECharts, swagger-ui-dist) and the offline /docs page.

The platform runs on closed networks: no page may load a script from a CDN. `make install`
puts the npm packages under .data/tools/node_modules (MINSHENG_WEB_ASSETS_DIR overrides the
folder); every service serves the few files its pages need at /vendor/<name>, and /docs is
FastAPI's Swagger page pointed at those files instead of a CDN.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ROOT = Path(__file__).resolve().parent.parent



def page_headers(*csp: str) -> dict[str, str]:
    """The headers of a service's own HTML page: never framed by another site (a page under a
    lure; the dashboard holds a staff token, the rating page's address the link's credential),
    nothing sniffed, no Referer leaving it; `csp`: directives the page adds."""
    policy = "; ".join(("frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'", *csp))
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


# name served at /vendor/<name> -> (npm package, file inside it, media type)
VENDORED = {
    "echarts.min.js": ("echarts", "dist/echarts.min.js", "text/javascript"),
    "swagger-ui-bundle.js": ("swagger-ui-dist", "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui-dist", "swagger-ui.css", "text/css"),
    "favicon-32x32.png": ("swagger-ui-dist", "favicon-32x32.png", "image/png"),
}


def assets_dir() -> Path:
    """Where the npm packages are (read when asked, not at import)."""
    configured = os.environ.get("MINSHENG_WEB_ASSETS_DIR", "")
    return Path(configured) if configured else ROOT / ".data" / "tools" / "node_modules"


def vendored_file(name: str) -> tuple[Path, str]:
    if name not in VENDORED:
        raise HTTPException(404, f"no vendored file {name!r}")
    package, inside, media_type = VENDORED[name]
    path = assets_dir() / package / inside
    if not path.is_file():
        raise HTTPException(404, f"{name} is not installed here (run `make install`, which puts "
                            f"npm's {package} under {assets_dir()})")
    return path, media_type


def serve_vendored_and_docs(app: FastAPI) -> None:
    """/vendor/<name> and an offline /docs on `app` (created with docs_url=None)."""

    @app.get("/vendor/{name}", include_in_schema=False)
    async def vendor(name: str) -> FileResponse:
        path, media_type = vendored_file(name)
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API",
            swagger_js_url="/vendor/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui.css",
            swagger_favicon_url="/vendor/favicon-32x32.png")
