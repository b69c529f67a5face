"""Routes: the browsable API page (docs/architecture.md).

GET /api shows /openapi.json with Swagger UI, as npm installed it (package.json at the repository root,
`make install`) under /static/vendor/swagger-ui/, or as copied to web/static/vendor/swagger-ui/ where
there is no node_modules (a container image). Nothing is fetched from another origin, so the page works
offline and under the same Content-Security-Policy as every other page.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.common import public
from web.errors import ApiError
from web.openapi import gives

routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SWAGGER_UI_DIR = Path(__file__).resolve().parent.parent.parent / "node_modules" / "swagger-ui-dist"


@routes.get("/api")
@public
@gives("text/html", description="Swagger UI over /openapi.json")
async def api_page(request: web.Request) -> web.FileResponse:
    """The API, browsable: every operation of /openapi.json with its parameters, bodies, answers and roles."""
    return web.FileResponse(STATIC_DIR / "api.html", headers={"Cache-Control": "no-cache"})


if not (STATIC_DIR / "vendor" / "swagger-ui").is_dir():
    if SWAGGER_UI_DIR.is_dir():
        routes.static("/static/vendor/swagger-ui", SWAGGER_UI_DIR)
    else:
        @routes.get("/static/vendor/swagger-ui/{name:.*}")
        @public
        async def swagger_ui_missing(request: web.Request) -> web.Response:
            """The API page's library is not installed."""
            raise ApiError(503, "api_page_library_missing",
                           "the API page's library is not installed: run `make install` (npm ci) in the "
                           "repository root")
