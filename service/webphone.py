"""Serves the TForge OmniSense Webphone page and its assets. (Placeholder: filled in by the webphone work.)"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
PAGE = "TForge-OmniSense-Webphone.html"


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"/{PAGE}" + (f"?{request.query_string}" if request.query_string else ""))


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
