"""The phone opened by ViciDial's agent screen, in Chromium (no autoplay flag), framed from another origin exactly
as vicidial.php frames it (devstack/agent_screen.py): every refusal, the `+` sent as a space, WEBSOCKETURL
ignored, the conference joined on both engines through the stack's PBX shape, the options, the logout, and the
call's audio that the frame may not autoplay."""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Error as PlaywrightError, Frame, Page

from devstack import agent_screen, kamailio, rtpengine
from devstack.baresip_control import PhoneControl
from service.app import create_app
from service.vicidial_webphone.sessions import VICIDIAL
from tests.own_kamailio import OwnKamailio
from tools.sipload import agents

from ..vicidial_rows import ViciDialRows
from .conftest import free_port, new_username, save_screenshot_path, until

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@pytest.fixture(autouse=True)
async def plain_phone_free(plain_phone_turn) -> AsyncIterator[None]:
    """The conferences ring the stack's one plain phone: this test's alone, no call of an earlier test left on it."""
    await hang_up_plain_phone()
    yield
    await hang_up_plain_phone()


async def hang_up_plain_phone() -> None:
    control = await PhoneControl.connect()
    try:
        with contextlib.suppress(TimeoutError):  # baresip 1.0 may not answer a hangup it has nothing for
            await control.command("hangup", timeout=2)
    finally:
        await control.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PBX_UDP_PORT = free_udp_port()  # the test PBX's plain-SIP side (one per run: a port of its own)


@pytest.fixture
def pbx(stack_env: dict[str, str]) -> Iterator[str]:
    """A Kamailio of the test's own with this checkout's config, taking plain SIP over UDP (PBX_UDP_PORT) and
    bridging media through the stack's rtpengine: its conference numbers ring the stack's plain phone. Its
    ws:// URL."""
    own = OwnKamailio(stack_env)
    own.argv = kamailio.command("127.0.0.1", own.port, agents.agent_secret(stack_env["AUTH_KEY_SECRET"]),
                                run_dir=own.run_dir, shm_mb=64, udp_listen=("127.0.0.1", PBX_UDP_PORT),
                                rtpengine_sock=f"udp:{rtpengine.HOST}:{rtpengine.NG_PORT}")
    own.start()
    try:
        yield own.url
    finally:
        own.stop()


@dataclass
class Screens:
    """The agent screen's origin: pages that frame a webphone URL as vicidial.php does."""

    server: TestServer
    pages: dict[str, str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def add(self, url: str) -> str:
        name = f"s{len(self.pages)}"
        self.pages[name] = agent_screen.page(url, "test")
        return f"{self.origin}/{name}"


@pytest.fixture
async def screens() -> AsyncIterator[Screens]:
    pages: dict[str, str] = {}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.match_info["name"]], content_type="text/html")

    application = web.Application()
    async def no_icon(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    application.router.add_get("/favicon.ico", no_icon)
    application.router.add_get("/{name}", serve)
    server = TestServer(application, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield Screens(server, pages)
    finally:
        await server.close()


MakeGateway = Callable[..., Awaitable[str]]


@pytest.fixture
async def gateway(webphone_settings, make_settings, stack_env, screens) -> AsyncIterator[MakeGateway]:
    """`await gateway(**env)`: the service with VICIDIAL_WEBPHONE=on, the agent screen's origin allowed; its base."""
    servers: list[TestServer] = []

    async def make(**env: str) -> str:
        settings = make_settings({**stack_env, "VICIDIAL_WEBPHONE": "on", "ALLOWED_ORIGINS": screens.origin, **env},
                                 ice_transport_policy="relay")
        app = create_app(settings)
        app[VICIDIAL].poll_seconds = 0.3  # the test's pace; 15 s in service
        server = TestServer(app, host="127.0.0.1", port=None)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield make
    for server in servers:
        await server.close()


@dataclass
class Agent:
    rows: ViciDialRows
    server_ip: str
    extension: str
    user: str
    conference: str

    def login(self, gateway: str) -> str:
        _live_id, url = self.rows.login(self.user, self.extension, self.server_ip, self.conference,
                                        f"{gateway}/vicidial/webphone")
        return url


def new_agent(rows: ViciDialRows, pbx_url: str, *, conf_engine: str = "MEETME", conference: str = "8600051",
              **phone: str) -> Agent:
    server_ip = rows.server(pbx_url, conf_engine)
    extension = new_username()
    rows.phone(server_ip, extension, **phone)
    return Agent(rows, server_ip, extension, f"agent{extension}", conference)


@dataclass
class Framed:
    page: Page
    errors: list[str]
    plays: list[str] = field(default_factory=list)  # the frame's play() outcomes (PLAY_WATCH)

    @property
    def frame(self) -> Frame:
        found = self.page.frame(name="webphone")
        assert found is not None, "the agent screen has no webphone frame"
        return found

    async def body(self, name: str) -> Any:
        return await self.evaluate(f"document.body.dataset.{name}")

    async def evaluate(self, script: str) -> Any:
        """`script`'s value in the frame; None while the frame is between two documents (a reload)."""
        try:
            return await self.frame.evaluate(script)
        except PlaywrightError as error:
            if "context was destroyed" in str(error) or "Frame was detached" in str(error):
                return None
            raise

    async def stats(self) -> dict[str, Any]:
        """The framed phone's stats (the webphone conftest's `growth` takes a Framed too)."""
        return await self.evaluate("OmniSense.phone.stats()")

    async def wait_body(self, name: str, value: str, timeout: float = 20) -> None:
        await until(lambda: self.body(name), lambda v: v == value, f"data-{name} {value}", timeout=timeout)

    async def phone(self, expression: str) -> Any:
        # null until the page has made its phone (the frame may still be loading, or reloading)
        return await self.evaluate(
            f"(() => {{ if (typeof OmniSense === 'undefined') return null; const phone = OmniSense.phone;"
            f" return {expression}; }})()")


@pytest.fixture
async def open_screen(browser: Browser) -> Callable[[str], Awaitable[Framed]]:
    async def open_(url: str) -> Framed:
        context = await browser.new_context(viewport={"width": 1000, "height": 700})
        await context.add_init_script(PLAY_WATCH.replace("REFUSE", "false"))
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        framed = Framed(page, errors)

        def console(message: ConsoleMessage) -> None:
            if message.text.startswith("omnisense-play"):
                framed.plays.append(message.text)

        page.on("console", console)
        await page.goto(url)
        return framed

    return open_


# What the frame's play() of the call's audio met, told on the console (a script evaluated in the frame would
# count as the agent's gesture there, so the tests listen instead). Chromium lets a frame that captures the
# microphone play without a click; with `refuse` set, the frame gets the policy of browsers that do not exempt
# capturing documents (play() refused until the agent clicks in the frame), so the page's answer is tested.
PLAY_WATCH = """
if (window.top !== window) {
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const active = navigator.userActivation.hasBeenActive;
    const result = this.srcObject && !active && REFUSE
      ? Promise.reject(new DOMException("play() needs a click in this frame", "NotAllowedError"))
      : play.call(this);
    if (this.srcObject) {
      result.then(() => console.log(`omnisense-play ok ${active}`),
        (error) => console.log(`omnisense-play ${error.name} ${active}`));
    }
    return result;
  };
}
"""


def settled(message: ConsoleMessage) -> bool:
    """A play() outcome that is not a play cut short by the page's own next one (AbortError)."""
    return message.text.startswith("omnisense-play") and "AbortError" not in message.text


async def first_play(browser: Browser, url: str, *, refuse: bool) -> tuple[Framed, str]:
    """Open the agent screen at `url` and wait, evaluating nothing in the frame (that would count as a click
    there), for the first settled play() of the call's audio; the frame and that outcome."""
    context = await browser.new_context()
    await context.add_init_script(PLAY_WATCH.replace("REFUSE", "true" if refuse else "false"))
    page = await context.new_page()
    async with page.expect_console_message(settled, timeout=20000) as first:
        await page.goto(url)
    return Framed(page, []), (await first.value).text


async def test_the_agent_screen_opens_the_phone_which_joins_the_meetme_conference(
        gateway, screens, vici_rows, pbx, browser):
    base = await gateway()
    agent = new_agent(vici_rows, pbx)
    framed, played = await first_play(browser, screens.add(agent.login(base)), refuse=False)
    # The frame has no autoplay permission, but it captures the microphone: Chromium plays the call, no click.
    assert played == "omnisense-play ok false"
    frame_url = framed.frame.url
    assert urlsplit(frame_url).query == "" and "phone_pass" not in frame_url  # the secret left the address
    await until(lambda: framed.phone("phone.call && [phone.call.peer, phone.call.state]"),
                lambda v: v == ["8600051", "in-call"], "the conference joined (the plain phone answers it)")
    assert await framed.frame.evaluate("document.getElementById('remote-audio').paused") is False
    assert await framed.frame.get_by_role("button", name="Click to hear the call").count() == 0


async def test_a_confbridge_server_is_joined_at_the_agents_entry(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conf_engine="CONFBRIDGE", conference="9600012")
    started = time.monotonic()
    framed = await open_screen(screens.add(agent.login(base)))
    await framed.wait_body("registration", "registered")
    print(f"launch to registered: {(time.monotonic() - started) * 1000:.0f} ms")
    await until(lambda: framed.phone("phone.call && [phone.call.peer, phone.call.state]"),
                lambda v: v == ["29600012", "in-call"], "the ConfBridge agent entry 2 + room joined")


async def test_the_call_audio_blocked_in_the_frame_gets_one_announced_control(
        gateway, screens, vici_rows, pbx, browser):
    base = await gateway()
    agent = new_agent(vici_rows, pbx)
    framed, played = await first_play(browser, screens.add(agent.login(base)), refuse=True)
    assert played == "omnisense-play NotAllowedError false"
    button = framed.frame.get_by_role("button", name="Click to hear the call")
    await button.wait_for(timeout=5000)
    # The announcer fills its live region a moment after clearing it (so the same words are read again).
    await until(lambda: framed.frame.locator("#announce-alert").text_content(),
                lambda text: "Click to hear the call" in (text or ""), "the control announced")
    await button.click()
    await until(lambda: framed.frame.evaluate("document.getElementById('remote-audio').paused"), lambda v: v is False,
                "the call's audio playing after the click")
    await until(button.count, lambda n: n == 0, "the control gone once the call plays")


async def test_logging_out_of_vicidial_ends_the_phone(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600052")
    framed = await open_screen(screens.add(agent.login(base)))
    await framed.wait_body("registration", "registered")
    sockets: list[str] = []
    framed.page.on("websocket", lambda ws: sockets.append(ws.url))
    assert vici_rows.logout(agent.user) == 1
    deleted = time.monotonic()
    await framed.wait_body("phoneState", "logged-out", timeout=10)
    print(f"row deleted to logged-out: {(time.monotonic() - deleted) * 1000:.0f} ms")
    assert "logged out of ViciDial" in await framed.frame.locator("#problem").text_content()
    # It does not reconnect.
    await framed.page.wait_for_timeout(1500)
    assert sockets == [] and await framed.body("phoneState") == "logged-out"


async def test_a_reload_of_the_frame_keeps_the_session(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600053")
    framed = await open_screen(screens.add(agent.login(base)))
    await framed.wait_body("registration", "registered")
    await until(lambda: framed.phone("phone.call && phone.call.state"), lambda v: v == "in-call", "in the conference")
    await framed.frame.evaluate("window.beforeReload = true; location.reload()")
    # The old document answers until it is gone: wait for the new one (no marker) to register.
    await until(lambda: framed.evaluate("window.beforeReload ? null : document.body.dataset.registration"),
                lambda v: v == "registered", "the reloaded frame registered")
    assert await framed.phone("phone.params.username") == agent.extension


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def with_value(url: str, name: str, value: str) -> str:
    """`url` with `name`'s (every) value replaced by base64 of `value`, not URL-encoded (as vicidial.php)."""
    query = urlsplit(url).query
    parts = [f"{k}={b64(value)}" if k == name else item for item, (k, _v) in
             zip(query.split("&"), parse_qsl(query.replace("+", "%2B"), keep_blank_values=True), strict=True)]
    return url.split("?")[0] + "?" + "&".join(parts)


async def refusal_in_frame(open_screen, screens, url: str) -> tuple[str, str]:
    framed = await open_screen(screens.add(url))
    await until(lambda: framed.body("reason"), lambda v: v is not None, "a refusal")
    return await framed.body("reason"), await framed.frame.locator("body").text_content()


async def test_every_refusal_is_named_in_the_frame(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600054")
    url = agent.login(base)
    cases = [
        (url.replace("&system_key=", "&no_key="), "bad_launch", "not a launch from ViciDial"),
        (with_value(url, "phone_login", agent.extension + "9"), "unknown_phone", "no active phone"),
        (with_value(url, "phone_pass", "wrong"), "bad_phone_pass", "password is not the phone"),
    ]
    for bad, reason, words in cases:
        vici_rows.execute("UPDATE vicidial_session_data SET webphone_url = %s WHERE user = %s", bad, agent.user)
        got, text = await refusal_in_frame(open_screen, screens, bad)
        assert got == reason and words in text, (reason, text)
    vici_rows.execute("UPDATE vicidial_session_data SET webphone_url = %s WHERE user = %s", url, agent.user)
    not_webphone = new_agent(vici_rows, pbx, is_webphone="N", conference="8600055")
    assert (await refusal_in_frame(open_screen, screens, not_webphone.login(base)))[0] == "not_a_webphone"
    # A launch URL of an earlier login: the phone's options changed, the agent logged in again.
    vici_rows.execute("UPDATE phones SET webphone_dialpad = 'N' WHERE extension = %s", agent.extension)
    agent.login(base)
    got, text = await refusal_in_frame(open_screen, screens, url)
    assert got == "stale_launch" and "earlier ViciDial login" in text
    vici_rows.logout(agent.user)
    assert (await refusal_in_frame(open_screen, screens, url))[0] == "agent_not_logged_in"
    keyed = await gateway(VICIDIAL_SYSTEM_KEY="not-this")
    assert (await refusal_in_frame(open_screen, screens, agent.login(keyed)))[0] == "bad_system_key"
    down = await gateway(DATABASE_URL="mysql://nobody:x@127.0.0.1:9/asterisk")
    assert (await refusal_in_frame(open_screen, screens, url.replace(base, down)))[0] == "vicidial_lookup_failed"
    # The launch token is single-use: the page's address the launch redirects to, opened a second time, is refused.
    vici_rows.execute("UPDATE phones SET webphone_dialpad = 'Y' WHERE extension = %s", agent.extension)
    fresh = agent.login(base)
    async with aiohttp.ClientSession() as client, client.get(fresh, allow_redirects=False) as response:
        assert response.status == 303
        page_url = base + response.headers["Location"]
    first = await open_screen(screens.add(page_url))
    await first.wait_body("registration", "registered")
    second = await open_screen(screens.add(page_url))
    await until(lambda: second.body("reason"), lambda v: v == "launch_token_used", "the token refused the second time")
    assert "used already" in await second.frame.locator("#problem").text_content()


async def test_a_plus_sent_as_a_space_and_a_websocketurl_are_handled(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    # The caller id's base64 holds "+" ("fn5+Pg=="), which vicidial.php sends as is and arrives as a space.
    agent = new_agent(vici_rows, pbx, conference="8600056", outbound_cid="~~~>", use_external_server_ip="Y")
    vici_rows.execute("UPDATE servers SET external_web_socket_url = 'ws://127.0.0.1:9/not-this' WHERE server_ip = %s",
                      agent.server_ip)
    url = agent.login(base)
    assert "+" in url and "WEBSOCKETURL" in base64.b64decode(dict(parse_qsl(urlsplit(url).query.replace(
        "+", "%2B")))["options"]).decode()
    framed = await open_screen(screens.add(url))
    # Registered: the "+" was restored (else the launch is refused as bad_launch), the PBX from the database used.
    await framed.wait_body("registration", "registered")
    assert await framed.body("reason") is None


async def test_the_options_shape_the_page_which_fits_the_frame(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600057", webphone_dialpad="TOGGLE_OFF", webphone_mute="N",
                      webphone_dialbox="N", webphone_auto_answer="N", webphone_debug="Y")
    framed = await open_screen(screens.add(agent.login(base)))
    await framed.wait_body("registration", "registered")
    # Once registered the page dials the conference; while that call is being set up the pad is hidden whatever
    # the options say, so the options are checked once it is in the conference.
    await until(lambda: framed.phone("phone.call && phone.call.state"), lambda v: v == "in-call", "in the conference")
    frame = framed.frame
    assert await framed.body("dialpad") == "toggle-hidden"
    assert not await frame.locator("#dial").is_visible()
    await frame.locator("#keypad-toggle").click()
    assert await frame.locator("#dial").is_visible()
    assert await framed.phone("phone.autoAnswer") is False
    assert await framed.phone("phone.audioConstraints().audio") == {
        "autoGainControl": False, "echoCancellation": False, "noiseSuppression": False}  # the default container
    assert await frame.locator("#debug").is_visible()
    assert not await frame.locator("#number").is_visible()
    assert not await frame.locator("#mute-button").is_visible()
    await framed.page.locator("#webphone").screenshot(path=save_screenshot_path("vicidial-frame.png"))


async def test_everything_fits_the_frame_without_scrolling(gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600058")
    framed = await open_screen(screens.add(agent.login(base)))
    await until(lambda: framed.phone("phone.call && phone.call.state"), lambda v: v == "in-call", "in the conference")
    size = await framed.frame.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    await framed.page.locator("#webphone").screenshot(path=save_screenshot_path("vicidial-in-call.png"))
    assert size[0] <= agent_screen.WIDTH and size[1] <= agent_screen.HEIGHT, size
    for control in ("#hangup-button", "#mute-button", "#hold-button", "#transfer-button", "#keypad"):
        box = await framed.frame.locator(control).bounding_box()
        assert box is not None and box["y"] + box["height"] <= agent_screen.HEIGHT, control


async def test_when_vicidial_calls_the_agent_again_auto_answer_takes_the_call(
        gateway, screens, vici_rows, pbx, open_screen):
    base = await gateway()
    agent = new_agent(vici_rows, pbx, conference="8600059")
    framed = await open_screen(screens.add(agent.login(base)))
    await until(lambda: framed.phone("phone.call && phone.call.state"), lambda v: v == "in-call", "in the conference")
    # ViciDial's conference drops the agent: the phone stays registered, with no call, and dials nothing again.
    await hang_up_plain_phone()
    await until(lambda: framed.phone("[phone.connection, phone.call === null]"), lambda v: v == ["registered", True],
                "registered with no call")
    # "Call Agent Again": the PBX calls the phone (to its Contact, as Asterisk does); auto-answer (the phone's
    # default webphone_auto_answer Y) takes it.
    control = await PhoneControl.connect()
    try:
        await control.command("dial", f"sip:agent-{agent.extension}@127.0.0.1:{PBX_UDP_PORT}")
    finally:
        await control.close()
    await until(lambda: framed.phone("phone.call && [phone.call.direction, phone.call.state]"),
                lambda v: v == ["incoming", "in-call"], "ViciDial's new call answered by itself")
