"""Swagger UI and ReDoc served from this process: their assets ship in the ``fastapi-offline``
package, so the docs work without internet and no third party sees who reads them."""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse.schemas import API_PREFIX

DOCS_PATH = API_PREFIX + "/docs"
REDOC_PATH = API_PREFIX + "/redoc"
ASSETS_PATH = DOCS_PATH + "/assets"

OWN_ASSETS: Final = Path(__file__).parent / "static"
# name → (ours or the package's, media type)
ASSETS: Final = {
    "swagger-ui-bundle.js": (False, "text/javascript"),
    "swagger-ui.css": (False, "text/css"),
    "redoc.standalone.js": (False, "text/javascript"),
    "favicon.png": (False, "image/png"),
    "swagger-init.js": (True, "text/javascript"),
}


@cache
def vendored_assets() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


# Scripts only from here; both UIs style themselves inline and ReDoc runs a blob: worker.
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS: Final = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def _root(request: Request) -> str:
    return escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    assets = f"{root}{ASSETS_PATH}"
    return _page(
        "pipepulse API — Swagger UI",
        f'<link rel="stylesheet" href="{assets}/swagger-ui.css">\n'
        f'<link rel="icon" href="{assets}/favicon.png">\n',
        f'<div id="swagger-ui" data-openapi-url="{root}{request.app.openapi_url}"></div>\n'
        f'<script src="{assets}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{assets}/swagger-init.js"></script>\n',
    )


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    assets = f"{root}{ASSETS_PATH}"
    return _page(
        "pipepulse API — ReDoc",
        f'<link rel="icon" href="{assets}/favicon.png">\n',
        f'<redoc spec-url="{root}{request.app.openapi_url}"></redoc>\n'
        f'<script src="{assets}/redoc.standalone.js"></script>\n',
    )


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> FileResponse:
    found = ASSETS.get(name)
    if found is None:
        raise StarletteHTTPException(404, "no such file")
    own, media_type = found
    return FileResponse(
        (OWN_ASSETS if own else vendored_assets()) / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
