"""`python -m service webphone-url ...`."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from ..runtime import settings_or_exit
from .links import webphone_url
from .session import USERNAME, parse_expire_date


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    url = commands.add_parser(
        "webphone-url",
        help="print a webphone URL with a valid auth_key",
        description="Print a complete webphone URL whose auth_key is signed with AUTH_KEY_SECRET.",
    )
    url.add_argument("--customer-id", type=int, required=True)
    url.add_argument("--user-id", type=int, required=True)
    url.add_argument("--username", required=True, help="the agent's SIP user name (the From user)")
    url.add_argument("--password", required=True, help="the agent's SIP password at the PBX")
    url.add_argument("--expires", required=True, metavar="ISO8601",
                     help="end of the session, e.g. 2026-12-01T17:00:00+02:00 (no offset means UTC)")
    url.add_argument("--base-url", help="where the page is served (default: http(s)://HOST:PORT of the settings)")
    url.add_argument("--server", help="the page's server parameter (default: host[:port] of --base-url)")
    url.add_argument("--turn-port", type=int, help="TURN port (default: TURN_PORT from the environment, else 3478)")
    url.add_argument("--debug-console", action="store_true")
    url.add_argument("--debug-html", action="store_true")
    url.add_argument("--crm-origin", metavar="ORIGIN", help="origin of the CRM allowed to postMessage the page")
    url.set_defaults(run=run_webphone_url)


def _fail(message: str) -> int:
    print(f"webphone-url: {message}", file=sys.stderr)
    return 2


def run_webphone_url(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    if args.customer_id < 0 or args.user_id < 0:
        return _fail("--customer-id and --user-id must be non-negative")
    if not USERNAME.fullmatch(args.username):
        return _fail("--username must be 1-64 characters usable in a SIP URI (letters, digits, ._~!$&'()*+,;=-)")
    try:
        parse_expire_date(args.expires)
    except ValueError:
        return _fail(f"--expires {args.expires!r} is not an ISO 8601 date-time")
    if "\n" in args.expires:
        return _fail("--expires must be one line")
    turn_port = args.turn_port or settings.turn_port
    if not 1 <= turn_port <= 65535:
        return _fail("--turn-port must be 1-65535")
    base_url = args.base_url or f"{'https' if settings.tls else 'http'}://{settings.host}:{settings.port}"
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        return _fail(f"--base-url {base_url!r} is not an http(s) URL")
    print(webphone_url(
        secret=settings.auth_key_secret,
        base_url=base_url,
        server=args.server,
        customer_id=args.customer_id,
        user_id=args.user_id,
        username=args.username,
        password=args.password,
        expire_date=args.expires.strip(),
        turn_port=turn_port,
        debug_console=args.debug_console,
        debug_html=args.debug_html,
        crm_origin=args.crm_origin,
    ))
    return 0
