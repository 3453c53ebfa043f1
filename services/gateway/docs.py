"""The API reference pages, served entirely by the gateway: no asset comes from anywhere else.

Government networks (政务外网/内网) usually cannot reach public CDNs, and the CDN FastAPI's pages
load Swagger UI from is often unreachable from mainland networks anyway: there the page stays
blank. So the gateway serves Swagger UI from the files of the ``fastapi-offline`` package (pinned
in pyproject.toml; it ships the Swagger UI 5 bundle FastAPI's own page points at), and a favicon of
our own. There is no ReDoc page: its bundle loads its logo from cdn.redoc.ly at run time, which is
exactly what must not happen here (tests/gateway/test_docs_browser.py caught it).

- ``/docs``: Swagger UI on the merged ``/openapi.json``; authorization persists across reloads,
  and the Authorize dialog logs in with the OAuth2 password flow (form body, as the token
  endpoint takes it). The validator badge (an image from validator.swagger.io) is off.
- ``/docs/oauth2-redirect``: the page OAuth2 flows with a redirect return to.
- ``/docs/assets/<version>/<file>``: the bundles, under the package's version so that they can be
  cached for a year (a new version is a new path).

The route policy treats both like ``/docs``: public, answered by the gateway itself, never
proxied (services/gateway/proxy/policy.py keeps the services' own pages unreachable).
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

TITLE = "Linju API"
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
FAVICON_URL = "/docs/favicon.svg"

ASSETS_VERSION = metadata.version("fastapi-offline")
ASSETS_URL = f"/docs/assets/{ASSETS_VERSION}"
# An installed wheel is a folder on disk, so the files can be served straight from it.
_PACKAGE_ASSETS = Path(str(resources.files("fastapi_offline") / "static"))
_FAVICON = Path(__file__).parent / "static" / "favicon.svg"

router = APIRouter(include_in_schema=False)


class _VersionedAssets(StaticFiles):
    """The package's files (ETag, Last-Modified, 304), cacheable for a year: their path changes
    with the package's version."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install_docs(app: FastAPI) -> None:
    """Serve the reference pages and their assets from ``app``."""
    app.include_router(router)
    app.mount(ASSETS_URL, _VersionedAssets(directory=_PACKAGE_ASSETS), name="docs-assets")


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=TITLE,
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=FAVICON_URL,
        oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(FAVICON_URL)
async def favicon() -> FileResponse:
    return FileResponse(
        _FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )
