"""Every path answers with and without its trailing slash, with no redirect (SPEC §4.8).

Routes are declared once (so OpenAPI lists each path once); a request that matches no route
is tried once more with the other spelling before it is a 404. Matching requests pay nothing.
"""

from __future__ import annotations

from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from pipepulse.conventions.routes import other_slash

_ORIGINAL_PATH = "pipepulse.original_path"


def install(router: Router) -> None:
    router.redirect_slashes = False
    not_found = router.default

    async def try_other_slash(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _ORIGINAL_PATH not in scope and scope["path"] not in ("", "/"):
            scope[_ORIGINAL_PATH] = scope["path"]
            scope["path"] = other_slash(scope["path"])
            raw_path = scope.get("raw_path")
            if isinstance(raw_path, bytes) and raw_path:
                scope["raw_path"] = raw_path[:-1] if raw_path.endswith(b"/") else raw_path + b"/"
            await router.app(scope, receive, send)
            return
        if _ORIGINAL_PATH in scope:
            scope["path"] = scope[_ORIGINAL_PATH]
        await not_found(scope, receive, send)

    router.default = try_other_slash
