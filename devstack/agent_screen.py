"""A stand-in for ViciDial's agent screen (`agc/vicidial.php`) as far as its webphone goes, on an origin of its
own: it logs a demo agent in (the rows vicidial.php writes, devstack/vicidial.py), keeps its live row fresh as
the agent screen's polling does, and frames the webphone URL exactly as vicidial.php does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from service.config import DatabaseConfig

from . import mariadb, vicidial

log = logging.getLogger("devstack.agent_screen")

WIDTH, HEIGHT = 460, 500  # agc/options.php's $webphone_width and $webphone_height
TOUCH_SECONDS = 5.0  # the agent screen updates its live row about every second; ViciDial counts 60 s as stale
DEMO_USER = "demoagent"
DEMO_EXTENSION = "1003"
"""The demo agent's own phone: not one of the demo TForge agents' (1001, 1002), whose SIP contact it would share."""
DEMO_SERVER_ID, DEMO_SERVER_IP = "omnivici", "127.0.0.3"
DEMO_ROOM = "9600050"
"""The demo's ConfBridge room on the stack's Asterisk: one no test uses (the machine has one Asterisk)."""
"""The demo phone's server row: the stack's chan_sip Asterisk when it runs one, its Kamailio otherwise."""


@dataclass(frozen=True)
class DemoPbx:
    """Where the demo agent's phone registers and which conference its login is in."""

    web_socket_url: str
    conf_engine: str
    conference: str


def demo_pbx(kamailio_url: str, asterisk_wss_url: str | None) -> DemoPbx:
    """A real ConfBridge room on the stack's Asterisk (agents enter at 2 + room), else a MeetMe-style number that
    the stack's Kamailio answers with the plain phone."""
    if asterisk_wss_url:
        return DemoPbx(asterisk_wss_url, "CONFBRIDGE", DEMO_ROOM)
    return DemoPbx(kamailio_url, "MEETME", "8600051")

HOST = "127.0.0.1"
PORT = 8091  # another origin than the service's (PORT 8080)
ORIGIN = f"http://{HOST}:{PORT}"


def frame(url: str, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """vicidial.php's webphone iframe (its "bar" location): the URL as is, the microphone allowed, no autoplay."""
    return (f'<iframe src="{html.escape(url)}" style="width:{width}px;height:{height}px;background-color:transparent;'
            f'z-index:17;" scrolling="no" frameborder="0" allowtransparency="true" id="webphone" name="webphone"'
            f' width="{width}px" height="{height}px" allow="microphone *; speakers *;"> </iframe>')


def page(url: str, user: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Agent screen (devstack)</title>"
            "</head><body style=\"font-family:sans-serif\">"
            f"<p>ViciDial agent screen stand-in: agent <b>{html.escape(user)}</b>, logged in. Its webphone:</p>"
            f"{frame(url)}</body></html>\n")


class DemoAgent:
    """The demo agent's login: written at start, its live row touched until stopped."""

    def __init__(self, db: DatabaseConfig, *, gateway: str, conference: str, server_ip: str = DEMO_SERVER_IP,
                 user: str = DEMO_USER, extension: str = DEMO_EXTENSION) -> None:
        self.db, self.gateway, self.server_ip = db, gateway.rstrip("/"), server_ip
        self.user, self.extension, self.conference = user, extension, conference
        self.url = ""

    def login(self) -> str:
        with mariadb.connect(self.db, self.db.database) as conn, conn.cursor() as cur:
            _live_id, self.url = vicidial.login(cur, user=self.user, extension=self.extension,
                                                server_ip=self.server_ip, conf_exten=self.conference,
                                                webphone_base=f"{self.gateway}/vicidial/webphone")
        return self.url

    def touch(self) -> int:
        with mariadb.connect(self.db, self.db.database) as conn, conn.cursor() as cur:
            return vicidial.touch(cur, self.user)

    async def keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(TOUCH_SECONDS)
            try:
                await asyncio.to_thread(self.touch)
            except Exception as exc:  # noqa: BLE001 - the database may be restarting: try again
                log.warning("the demo agent's live row could not be touched: %s", exc)


def app(agent: DemoAgent) -> web.Application:
    application = web.Application()

    async def screen(_request: web.Request) -> web.Response:
        return web.Response(text=page(agent.url, agent.user), content_type="text/html")

    async def keeper(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(agent.keep_fresh())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    application.router.add_get("/", screen)
    application.cleanup_ctx.append(keeper)
    return application


def logout(db: DatabaseConfig, user: str = DEMO_USER) -> int:
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        return vicidial.logout(cur, user)
