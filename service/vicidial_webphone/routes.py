"""`GET /vicidial/webphone` (ViciDial's "Webphone URL") and `POST /vicidial/webphone/session` (the page's
exchange of the launch token), with `VICIDIAL_WEBPHONE=on` (README, "Using it as ViciDial's webphone").

The launch is checked (launch.py, checks.py, in their order) and then answered with a redirect to the page
carrying a launch token and nothing secret; the page exchanges the token for its session parameters, once.
"""

from __future__ import annotations

import html
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ..appkeys import DB_POOL, METRICS_REGISTRY, SETTINGS
from ..errors import ApiError, json_response
from ..sip_proxy import auth_key
from ..sip_proxy.access import origin_allowed
from ..sip_proxy.links import PAGE
from ..sip_proxy.routes import TURN_REAPER
from ..sip_proxy.session import USERNAME
from ..webphone import content_security_policy
from . import checks, sessions as sessions_mod, tokens
from .launch import LaunchError, conference_number, parse_launch, parse_options
from .lookup import ViciDialDb
from .sessions import VICIDIAL, VICIDIAL_CUSTOMER_ID, ViciDialSessions

log = logging.getLogger("service.vicidial_webphone")

LAUNCH_PARAM = "vicidial_launch"
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

_TITLES = {
    "bad_launch": "This is not a launch from ViciDial",
    "bad_system_key": "Wrong system key",
    "unknown_phone": "Unknown phone",
    "not_a_webphone": "Not a webphone",
    "bad_phone_pass": "Wrong phone password",
    "agent_not_logged_in": "Not logged in to ViciDial",
    "stale_launch": "An old webphone link",
    "vicidial_lookup_failed": "ViciDial's database is unreachable",
}


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def refusal_page(refusal: checks.Refusal) -> str:
    title = html.escape(_TITLES.get(refusal.reason, "The phone cannot start"))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><link rel=\"stylesheet\" href=\"/static/css/webphone.css\"></head>"
        f"<body data-phone-state=\"refused\" data-reason=\"{html.escape(refusal.reason)}\">"
        f"<main id=\"problem\" role=\"alert\"><h1>{title}</h1><p id=\"problem-message\">{html.escape(refusal.message)}"
        f"</p><p><code>{html.escape(refusal.reason)}</code></p></main></body></html>\n"
    )


def _frame_headers(request: web.Request) -> dict[str, str]:
    return {**_NO_STORE, "Content-Security-Policy": content_security_policy(
        request.host, request.app[SETTINGS].allowed_origins)}


def refuse(request: web.Request, refusal: checks.Refusal) -> web.Response:
    sessions = request.app[VICIDIAL]
    sessions.count(refusal.reason)
    log.info("ViciDial webphone launch refused: %s (%s)", refusal.reason, refusal.message)
    if wants_json(request):
        return json_response(refusal.status, refusal.body(), _NO_STORE)
    return web.Response(status=refusal.status, text=refusal_page(refusal), content_type="text/html",
                        headers=_frame_headers(request))


async def launch(request: web.Request) -> web.StreamResponse:
    """GET /vicidial/webphone: vicidial.php's query, checked; a redirect to the page with a launch token."""
    app = request.app
    settings = app[SETTINGS]
    sessions = app[VICIDIAL]
    raw_query = request.rel_url.raw_query_string
    try:
        given = parse_launch(raw_query)
    except LaunchError as exc:
        return refuse(request, checks.bad_launch(str(exc)))
    if not checks.system_key_ok(settings.vicidial_system_key, given.system_key):
        return refuse(request, checks.BAD_SYSTEM_KEY)
    options = parse_options(given.options)
    try:
        outcome = await sessions.db.check(given, options, raw_query)
    except Exception as exc:  # noqa: BLE001 - the database is down or refuses us: a 503 in words
        log.warning("ViciDial launch look-up failed: %s: %s", type(exc).__name__, exc)
        outcome = checks.lookup_failed(exc)
    if isinstance(outcome, checks.Refusal):
        return refuse(request, outcome)
    phone, agent = outcome
    if not USERNAME.fullmatch(phone.extension):  # a phone this relay cannot register (README: webphone sessions)
        return refuse(request, checks.bad_launch("the phone's extension is not usable as a SIP user name"))
    now = time.time()
    expire = datetime.fromtimestamp(now, UTC) + timedelta(seconds=settings.vicidial_session_max)
    grant = tokens.Grant(
        live_agent_id=agent.live_agent_id, user=agent.user, extension=phone.extension, server_ip=phone.server_ip,
        expire_date=expire.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        conference=conference_number(options, phone.conf_engine),
        options=options.page(),
    )
    token = tokens.mint(settings.auth_key_secret, grant, now)
    sessions.count("ok")
    log.info("ViciDial webphone launch for user %s, extension %s (conference %s, %s)", agent.user, phone.extension,
             agent.conf_exten or "-", phone.conf_engine)
    raise web.HTTPSeeOther(f"/{PAGE}?{LAUNCH_PARAM}={token}", headers=_NO_STORE)


async def exchange(request: web.Request) -> web.Response:
    """POST /vicidial/webphone/session: a launch token, once, for the page's session parameters."""
    app = request.app
    settings = app[SETTINGS]
    sessions = app[VICIDIAL]
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, settings.allowed_origins, request.scheme, request.host):
        raise ApiError(403, {"message": "this origin may not open webphone sessions", "reason": "origin_not_allowed"})
    try:
        body = await request.json()
        token = body["token"]
        if not isinstance(token, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, {"message": "expected {\"token\": ...}", "reason": "bad_launch_token"}) from None
    try:
        grant = tokens.redeem(settings.auth_key_secret, token, time.time(), sessions.replays)
    except tokens.TokenError as exc:
        sessions.count(exc.reason)
        raise ApiError(403, {"message": exc.message, "reason": exc.reason}, _NO_STORE) from None
    try:
        secret = await sessions.db.secret(grant.extension, grant.server_ip)
    except Exception as exc:  # noqa: BLE001 - a 503 in words
        log.warning("ViciDial phone look-up failed: %s: %s", type(exc).__name__, exc)
        failed = checks.lookup_failed(exc)
        raise ApiError(failed.status, failed.body(), _NO_STORE) from None
    if secret is None:
        raise ApiError(403, {"message": f"the phone {grant.extension!r} is no longer an active ViciDial phone",
                             "reason": "unknown_phone"}, _NO_STORE)
    params = {
        "auth_key": auth_key.sign(settings.auth_key_secret, VICIDIAL_CUSTOMER_ID, grant.live_agent_id,
                                  grant.extension, grant.expire_date),
        "server": request.host,
        "turn_port": str(settings.turn_port),
        "customer_id": str(VICIDIAL_CUSTOMER_ID),
        "user_id": str(grant.live_agent_id),
        "username": grant.extension,
        "password": secret,
        "expire_date": grant.expire_date,
        "debug_html": "true" if grant.options.get("debug") else "false",
    }
    log.info("ViciDial webphone session for user %s, extension %s handed to the page", grant.user, grant.extension)
    answer = {"params": params, "vicidial": {"user": grant.user, "conference": grant.conference,
                                             "options": grant.options}}
    return web.Response(text=json.dumps(answer), content_type="application/json", headers=_NO_STORE)


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    if not settings.vicidial_webphone:
        return
    sessions = ViciDialSessions(ViciDialDb(lambda: app[DB_POOL], settings.vicidial_agent_stale_s),
                                app.get(TURN_REAPER))
    app[VICIDIAL] = sessions
    app[METRICS_REGISTRY].register(sessions_mod.ViciDialCollector(sessions))
    sessions_mod.setup(app, sessions)
    app.router.add_get("/vicidial/webphone", launch)
    app.router.add_post("/vicidial/webphone/session", exchange)
