"""The application factory: one place that wires settings, state, middleware and each part's routes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from . import db, health, http_server, logs, metrics, webphone
from .appkeys import METRICS_REGISTRY, READINESS_CHECKS, SETTINGS
from .archive import routes as archive_routes
from .config import Settings
from .errors import error_middleware
from .forwarded import forwarded_middleware
from .sip_proxy import routes as sip_proxy_routes
from .vicidial_webphone import routes as vicidial_webphone_routes


def create_app(settings: Settings) -> web.Application:
    middlewares: list[Middleware] = [logs.context_middleware, error_middleware]
    if settings.trusted_proxies:  # before the error middleware, so even an error answer sees the client
        middlewares.insert(1, forwarded_middleware(settings.trusted_proxies))
    app = web.Application(middlewares=middlewares, client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    http_server.setup(app)
    app[METRICS_REGISTRY] = metrics.new_registry()
    app[READINESS_CHECKS] = {}
    app.cleanup_ctx.append(db.db_context)
    app.add_routes(health.routes)
    app.add_routes(metrics.routes)
    archive_routes.setup(app)
    sip_proxy_routes.setup(app)
    vicidial_webphone_routes.setup(app)  # after the relay's: it uses the TURN reaper
    webphone.setup(app)
    return app
