"""`GET /vicidial/webphone` against the stack's database and Kamailio: every refusal in its order, the launch
token, the session it opens, the logout that ends it and the newer launch that replaces it."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from devstack import vicidial
from service.app import create_app
from service.vicidial_webphone.sessions import VICIDIAL
from tests.sip_proxy.helpers import Peer, new_username, refresh_allocation, relays, turn_allocation
from tools.sipload.ua import Agent

from ..vicidial_rows import ViciDialRows

pytestmark = pytest.mark.stack

JSON = {"Accept": "application/json"}
BASE = "https://gateway.example/vicidial/webphone"


@pytest.fixture
def vici_env(stack_env: dict[str, str]) -> dict[str, str]:
    return {**stack_env, "VICIDIAL_WEBPHONE": "on"}


@pytest.fixture
async def client(aiohttp_client, make_settings, vici_env):
    app = create_app(make_settings(vici_env))
    app[VICIDIAL].poll_seconds = 0.2  # the test's own pace; 15 s in service
    return await aiohttp_client(app)


class Agentship:
    """One agent logged in on one webphone of its own: the launch query vicidial.php built for it."""

    def __init__(self, rows: ViciDialRows, kamailio_url: str, *, conf_engine: str = "MEETME",
                 conf_exten: str = "8600051", **phone_columns: str) -> None:
        self.rows = rows
        self.server_ip = rows.server(kamailio_url, conf_engine)
        self.extension = new_username()
        self.user = f"agent{self.extension}"
        self.conf_exten = conf_exten
        self.secret = rows.phone(self.server_ip, self.extension, **phone_columns)

    def login(self) -> str:
        self.live_agent_id, url = self.rows.login(self.user, self.extension, self.server_ip, self.conf_exten, BASE)
        return urlsplit(url).query


async def launch(client, query: str, headers: dict[str, str] | None = None):
    return await client.get(f"/vicidial/webphone?{query}", headers=headers or JSON, allow_redirects=False)


async def refused(client, query: str) -> tuple[int, str]:
    response = await launch(client, query)
    return response.status, (await response.json())["reason"]


async def exchange(client, location: str) -> dict:
    token = dict(parse_qsl(urlsplit(location).query))["vicidial_launch"]
    response = await client.post("/vicidial/webphone/session", json={"token": token})
    return {"status": response.status, **(await response.json())}


def test_the_route_is_off_by_default(make_settings, stack_env):
    app = create_app(make_settings(stack_env))
    assert VICIDIAL not in app
    assert not any(r.resource is not None and r.resource.canonical == "/vicidial/webphone" for r in app.router.routes())


async def test_a_launch_opens_a_session_that_registers_and_ends_at_logout(client, vici_rows, stack_env):
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"], conf_engine="CONFBRIDGE", conf_exten="9600012",
                          use_external_server_ip="Y")
    # The options' WEBSOCKETURL (here the server's external URL, which answers nothing) is never used.
    vici_rows.execute("UPDATE servers SET external_web_socket_url = 'ws://127.0.0.1:9/not-this' WHERE server_ip = %s",
                      agent_row.server_ip)
    query = agent_row.login()
    options = base64.b64decode(dict(parse_qsl(query))["options"].replace(" ", "+")).decode()
    assert "--WEBSOCKETURLws://127.0.0.1:9/not-this--" in options
    response = await launch(client, query, headers={})
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/TForge-OmniSense-Webphone.html?vicidial_launch=")
    assert agent_row.secret not in location and vicidial.php_base64(agent_row.secret) not in location
    assert response.headers["Cache-Control"] == "no-store"

    grant = await exchange(client, location)
    assert grant["status"] == 200
    params = grant["params"]
    assert (params["username"], params["password"], params["customer_id"], params["user_id"]) == (
        agent_row.extension, agent_row.secret, "0", str(agent_row.live_agent_id))
    assert grant["vicidial"]["conference"] == "29600012"  # ConfBridge: the agents' entry
    assert grant["vicidial"]["options"]["autoAnswer"] is True  # the phone's default webphone_auto_answer
    again = await exchange(client, location)
    assert (again["status"], again["reason"]) == (403, "launch_token_used")

    session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    ws = await client.ws_connect("/ws", params=session, protocols=("sip",))
    phone = Agent(ws, agent_row.extension, params["password"], timeout=5)
    phone.start()
    try:
        await phone.register()  # raises unless Kamailio answered 200 to the phone's digest
        sessions = client.app[VICIDIAL]
        assert len(sessions.logins) == 1
        metrics = await (await client.get("/metrics")).text()
        assert (f'vicidial_webphone_sessions_open{{extension="{agent_row.extension}",user="{agent_row.user}"}} 1.0'
                in metrics)

        assert vici_rows.logout(agent_row.user) == 1
        logged_out = time.monotonic()
        await asyncio.wait_for(phone.closed.wait(), 5)
        assert ws.close_code == 4001
        assert sessions.closed == {"logged_out": 1} and len(sessions.logins) == 0
        assert time.monotonic() - logged_out < 2  # the test polls every 0.2 s
    finally:
        await phone.close()
    # A reconnect of that session is refused now.
    refused_ws = await client.get("/ws", params=session, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "sip"})
    assert (refused_ws.status, (await refused_ws.json())["reason"]) == (403, "logged_out")


async def test_a_stale_live_row_ends_the_session(client, vici_rows, stack_env):
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    location = (await launch(client, agent_row.login())).headers["Location"]
    params = (await exchange(client, location))["params"]
    session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    ws = await client.ws_connect("/ws", params=session, protocols=("sip",))
    vici_rows.execute("UPDATE vicidial_live_agents SET last_update_time = NOW() - INTERVAL 61 SECOND WHERE user = %s",
                      agent_row.user)
    message = await asyncio.wait_for(ws.receive(), 5)
    assert (message.data, message.extra) == (4001, "logged out")


async def test_a_newer_launch_replaces_the_older_session(client, vici_rows, stack_env):
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    query = agent_row.login()
    sockets = []
    for _ in range(2):
        params = (await exchange(client, (await launch(client, query)).headers["Location"]))["params"]
        session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
        sockets.append((session, await client.ws_connect("/ws", params=session, protocols=("sip",))))
        await asyncio.sleep(0.002)  # launches are ordered by their millisecond
    message = await asyncio.wait_for(sockets[0][1].receive(), 5)
    assert (message.data, message.extra) == (4001, "replaced by a newer launch")
    assert not sockets[1][1].closed
    older = await client.get("/ws", params=sockets[0][0], headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "sip"})
    assert (older.status, (await older.json())["reason"]) == (409, "replaced")


async def test_refusals_in_order(aiohttp_client, make_settings, vici_env, vici_rows, stack_env):
    client = await aiohttp_client(create_app(make_settings({**vici_env, "VICIDIAL_SYSTEM_KEY": "sys-key"})))
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    query = agent_row.login()  # system_key "" (the demo system_settings has none)
    assert await refused(client, "phone_login=MTAwMQ==") == (400, "bad_launch")
    assert await refused(client, query.replace("phone_pass=", "phone_pass=*")) == (400, "bad_launch")
    assert await refused(client, query) == (403, "bad_system_key")
    keyed = query.replace("system_key=", f"system_key={vicidial.php_base64('sys-key')}")
    assert keyed != query
    vici_rows.execute("UPDATE vicidial_session_data SET webphone_url = %s WHERE user = %s", f"{BASE}?{keyed}",
                      agent_row.user)
    launched = await launch(client, keyed)
    assert launched.status == 303


async def test_each_refusal(client, vici_rows, stack_env):
    url = stack_env["SIP_UPSTREAM"]
    ok = Agentship(vici_rows, url)
    query = ok.login()
    # unknown_phone: another case, a trailing space, another server address, an inactive phone
    for wrong in (ok.extension + " ", f"x{ok.extension}"):
        changed = query.replace(f"phone_login={vicidial.php_base64(ok.extension)}",
                                f"phone_login={vicidial.php_base64(wrong)}")
        assert await refused(client, changed) == (403, "unknown_phone")
    elsewhere = query.replace(f"server_ip={vicidial.php_base64(ok.server_ip)}",
                              f"server_ip={vicidial.php_base64('10.9.9.9')}")
    assert await refused(client, elsewhere) == (403, "unknown_phone")
    lettered = Agentship(vici_rows, url)
    vici_rows.execute("UPDATE phones SET extension = %s WHERE extension = %s", f"ab{lettered.extension}",
                      lettered.extension)
    vici_rows.phones.append((f"ab{lettered.extension}", lettered.server_ip))
    upper = query.replace(f"phone_login={vicidial.php_base64(ok.extension)}",
                          f"phone_login={vicidial.php_base64('AB' + lettered.extension)}")
    assert await refused(client, upper) == (403, "unknown_phone")
    inactive = Agentship(vici_rows, url, active="N")
    assert await refused(client, inactive.login()) == (403, "unknown_phone")
    not_webphone = Agentship(vici_rows, url, is_webphone="N")
    assert await refused(client, not_webphone.login()) == (403, "not_a_webphone")
    # bad_phone_pass: a "+" in the base64 of both secrets, so the decoding is what is tested
    plus = Agentship(vici_rows, url, conf_secret="~~~>pass>>>?")
    plus_query = plus.login()
    assert "+" in plus_query.partition("phone_pass=")[2].partition("&")[0]
    wrong_pass = plus_query.replace(f"phone_pass={vicidial.php_base64('~~~>pass>>>?')}",
                                    f"phone_pass={vicidial.php_base64('~~~>pass>>>!')}")
    vici_rows.execute("UPDATE vicidial_session_data SET webphone_url = %s WHERE user = %s", f"{BASE}?{wrong_pass}",
                      plus.user)
    assert await refused(client, wrong_pass) == (403, "bad_phone_pass")
    vici_rows.execute("UPDATE vicidial_session_data SET webphone_url = %s WHERE user = %s", f"{BASE}?{plus_query}",
                      plus.user)
    assert (await launch(client, plus_query)).status == 303  # "+" as sent
    assert (await launch(client, plus_query.replace("+", "%20"))).status == 303  # "+" arrived as a space
    # agent_not_logged_in: another conference, a stale row, no row
    vici_rows.execute("UPDATE vicidial_live_agents SET conf_exten = '8600099' WHERE user = %s", ok.user)
    assert await refused(client, query) == (403, "agent_not_logged_in")
    vici_rows.execute("UPDATE vicidial_live_agents SET conf_exten = %s, last_update_time = NOW() - INTERVAL 61 SECOND"
                      " WHERE user = %s", ok.conf_exten, ok.user)
    assert await refused(client, query) == (403, "agent_not_logged_in")
    vici_rows.logout(ok.user)
    assert await refused(client, query) == (403, "agent_not_logged_in")
    # stale_launch: the URL of an earlier login (the phone's options changed since)
    earlier = ok.login()
    vici_rows.execute("UPDATE phones SET webphone_dialpad = 'N' WHERE extension = %s", ok.extension)
    later = ok.login()
    assert later != earlier
    assert await refused(client, earlier) == (403, "stale_launch")
    assert (await launch(client, later)).status == 303


async def test_the_refusal_page_names_the_reason_in_words(client):
    response = await launch(client, "phone_login=MTAwMQ==", headers={"Accept": "text/html"})
    body = await response.text()
    assert response.status == 400 and response.content_type == "text/html"
    assert 'data-reason="bad_launch"' in body and "not a launch from ViciDial" in body
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


async def test_an_unreachable_database_is_a_503(aiohttp_client, make_settings, vici_env, vici_rows, stack_env):
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    query = agent_row.login()
    client = await aiohttp_client(create_app(make_settings(
        {**vici_env, "DATABASE_URL": "mysql://nobody:x@127.0.0.1:9/asterisk"})))
    assert await refused(client, query) == (503, "vicidial_lookup_failed")
    html = await launch(client, query, headers={"Accept": "text/html"})
    assert html.status == 503 and "database" in await html.text()


async def test_vicidial_session_max_ends_the_session_whatever_the_login(aiohttp_client, make_settings, vici_env,
                                                                        vici_rows, stack_env):
    client = await aiohttp_client(create_app(make_settings({**vici_env, "VICIDIAL_SESSION_MAX": "2"})))
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    params = (await exchange(client, (await launch(client, agent_row.login())).headers["Location"]))["params"]
    session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    ws = await client.ws_connect("/ws", params=session, protocols=("sip",))
    message = await asyncio.wait_for(ws.receive(), 5)
    assert (message.data, message.extra) == (4001, "session expired")


async def test_the_turn_allocation_ends_with_the_login(client, vici_rows, stack_env):
    """coturn would keep an allocation until the session's expire_date (VICIDIAL_SESSION_MAX away): the logout
    cancels it through coturn's CLI within seconds, and the page's next credentials are refused as logged out."""
    agent_row = Agentship(vici_rows, stack_env["SIP_UPSTREAM"])
    params = (await exchange(client, (await launch(client, agent_row.login())).headers["Location"]))["params"]
    session = {k: params[k] for k in ("auth_key", "customer_id", "user_id", "username", "expire_date")}
    ws = await client.ws_connect("/ws", params=session, protocols=("sip",))
    port = int(stack_env.get("TURN_PORT", "3478"))
    creds = await (await client.get("/webphone/turn-credentials", params={**session, "turn_port": str(port)})).json()
    async with Peer.open() as (peer, peer_addr), turn_allocation(creds, port) as allocation:
        assert await relays(allocation, peer, peer_addr, b"while logged in", 5)
        assert vici_rows.logout(agent_row.user) == 1
        assert (await asyncio.wait_for(ws.receive(), 5)).extra == "logged out"
        logged_out = time.monotonic()
        while (answer := await refresh_allocation(allocation)) > 0:
            assert time.monotonic() - logged_out < 15, "still refreshed 15 s after the logout"
            await asyncio.sleep(0.25)
        assert answer in (-401, -437)
    refused = await client.get("/webphone/turn-credentials", params={**session, "turn_port": str(port)})
    assert (refused.status, (await refused.json())["reason"]) == (403, "logged_out")
