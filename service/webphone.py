"""Serves the TForge OmniSense Webphone page, its assets and sip.js 0.15.11 from the npm package.

The page URL carries an agent's password, so the page is answered with `Referrer-Policy: no-referrer`,
`Cache-Control: no-store` and a Content-Security-Policy that lets it run only its own scripts and connect only
to its own origin (HTTP and WebSocket). `frame-ancestors` lets the CRM embed it: the origins in
`ALLOWED_ORIGINS`, and the `crm_origin` of the launch URL (a URL that needs the agent's password anyway).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from .appkeys import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
PAGE = "TForge-OmniSense-Webphone.html"
# Served from the npm package pinned by package-lock.json (`npm ci`), never copied into the repo.
SIP_JS = ROOT / "node_modules" / "sip.js" / "dist" / "sip.min.js"
SIP_JS_ROUTE = "/static/vendor/sip-0.15.11.min.js"

# Module scripts must be served as JavaScript whatever the machine's mime.types says.
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}

_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def crm_origin(raw: str | None) -> str | None:
    """`crm_origin` if it is exactly an http(s) origin (no path, query or user), else None."""
    if not raw or len(raw) > 200:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if any(c in raw for c in " ;,'\"\\"):  # nothing that could end a CSP source expression
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def content_security_policy(host: str, frame_ancestors: tuple[str, ...]) -> str:
    """The page's CSP: own scripts and styles only; HTTP and WebSocket connections to its own host only."""
    sources = " ".join(("'self'", *dict.fromkeys(frame_ancestors)))
    connect = f"'self' ws://{host} wss://{host}" if _safe_host(host) else "'self'"
    return "; ".join((
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        f"connect-src {connect}",
        "base-uri 'none'",
        "form-action 'none'",
        f"frame-ancestors {sources}",
    ))


def _safe_host(host: str) -> bool:
    return bool(host) and len(host) <= 255 and all(c.isalnum() or c in ".-:[]" for c in host)


def page_headers(request: web.Request) -> dict[str, str]:
    settings = request.app[SETTINGS]
    ancestors = list(settings.allowed_origins)
    if (origin := crm_origin(request.query.get("crm_origin"))) is not None:
        ancestors.append(origin)
    return {
        **_COMMON_HEADERS,
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(request.host, tuple(ancestors)),
    }


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC_DIR / PAGE, headers={**page_headers(request), "Content-Type": "text/html; charset=utf-8"}
    )


async def index(request: web.Request) -> web.StreamResponse:
    # The query (the launch parameters) goes along: `/` is a short form of the page's own URL.
    raise web.HTTPFound(f"/{PAGE}" + (f"?{request.query_string}" if request.query_string else ""),
                        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


def resolve_asset(relative: str) -> Path | None:
    """The file under `static/` that `relative` names, or None (outside it, hidden, or not a file)."""
    if not relative or any(part.startswith(".") or part == "" for part in relative.split("/")):
        return None
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return None
    return path


async def asset(request: web.Request) -> web.StreamResponse:
    path = resolve_asset(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return _file(path)


async def sip_js(request: web.Request) -> web.StreamResponse:
    if not SIP_JS.is_file():
        raise web.HTTPServiceUnavailable(reason="sip.js is not installed: run npm ci (make does)")
    return _file(SIP_JS)


def _file(path: Path) -> web.FileResponse:
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    # no-cache: revalidated each time (ETag/Last-Modified), so a deploy is seen at once.
    return web.FileResponse(path, headers={**_COMMON_HEADERS, "Cache-Control": "no-cache",
                                           "Content-Type": content_type})


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get(f"/{PAGE}", page)
    app.router.add_get(SIP_JS_ROUTE, sip_js)
    app.router.add_get("/static/{path:.+}", asset)
