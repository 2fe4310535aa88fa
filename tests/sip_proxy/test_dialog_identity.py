"""Identity inside dialogs against a real Kamailio (this checkout's config, on ports of the test's own): a
forged To tag gets nowhere, straight to Kamailio or through the relay; the PBX's call to an agent's Contact
goes on (hold, resume, hang-up from either side) across a reconnect and a service restart, for clients that
shape their Contact and From as JsSIP and SIP.js 0.21 do."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.sip_proxy import sip
from tests.own_kamailio import OwnKamailio
from tools.sipload import agents
from tools.sipload.ua import Agent, Dialog

from .helpers import never_set, new_username, session_query

pytestmark = pytest.mark.stack


@pytest.fixture
def pbx(stack_env: dict[str, str]) -> Iterator[OwnKamailio]:
    k = OwnKamailio(stack_env, udp=True)
    k.start()
    try:
        yield k
    finally:
        k.stop()


class UdpTarget(asyncio.DatagramProtocol):
    """Where a loose-routed forgery would be sent: a UDP SIP listener that records anything it gets."""

    def __init__(self) -> None:
        self.got = asyncio.Event()
        self.port = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.set()


@pytest.fixture
async def udp_target() -> AsyncIterator[UdpTarget]:
    transport, target = await asyncio.get_running_loop().create_datagram_endpoint(
        UdpTarget, local_addr=("127.0.0.1", 0))
    target.port = transport.get_extra_info("sockname")[1]
    yield target
    transport.close()


def forged(method: str, pbx: OwnKamailio, target: UdpTarget, claimed: str = "1002") -> str:
    """A request 'from' someone else with a made-up To tag and a Route to the PBX: what a standard Kamailio
    loose-routes without asking for credentials."""
    call_id = secrets.token_hex(8)
    return (f"{method} sip:victim@127.0.0.1:{target.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/WS forger.invalid;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n"
            f"Route: <sip:127.0.0.1:{pbx.port};transport=ws;lr>\r\n"
            f"From: <sip:{claimed}@omnisense.local>;tag=f{call_id}\r\nTo: <sip:victim@omnisense.local>;tag=forged\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:{claimed}@forger.invalid;transport=ws>\r\n"
            "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")


async def answer_to(ws: aiohttp.ClientWebSocketResponse) -> sip.SipMessage:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if msg.data.strip():
            return sip.parse(msg.data)


@pytest.mark.parametrize("method", ["MESSAGE", "INVITE"])
async def test_kamailio_itself_refuses_a_forged_in_dialog_request(pbx, udp_target, method):
    async with aiohttp.ClientSession() as http, http.ws_connect(pbx.url, protocols=("sip",)) as ws:
        await ws.send_str(forged(method, pbx, udp_target))
        assert (await answer_to(ws)).status == 404
    await never_set(udp_target.got, within=0.5)


@pytest.fixture
def relay_settings(stack_env, make_settings, pbx):
    return make_settings({**stack_env, "SIP_UPSTREAM": pbx.url})


@pytest.fixture
async def relay(aiohttp_client, relay_settings) -> TestClient:
    return await aiohttp_client(create_app(relay_settings))


@pytest.mark.parametrize("method", ["MESSAGE", "INVITE"])
async def test_through_the_relay_a_forged_in_dialog_request_never_reaches_kamailio(relay, relay_settings, pbx,
                                                                                     udp_target, method):
    username = new_username()
    query = session_query(relay_settings.auth_key_secret, username)
    counter = f"core:rcv_requests_{method.lower()}"
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str(forged(method, pbx, udp_target))
        assert (await answer_to(ws)).status == 403
        await ws.send_str(f"OPTIONS sip:{username}@omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKo"
                          f"\r\nMax-Forwards: 70\r\nFrom: <sip:{username}@omnisense.local>;tag=o\r\n"
                          f"To: <sip:{username}@omnisense.local>\r\nCall-ID: o-{username}\r\nCSeq: 1 OPTIONS\r\n"
                          "Content-Length: 0\r\n\r\n")
        await answer_to(ws)  # Kamailio's answer to the agent's own request: it has read all it was sent
    assert pbx.statistic("core:rcv_requests_options") == 1 and pbx.statistic(counter) == 0
    assert not udp_target.got.is_set()


CLIENTS = {
    # JsSIP: a ;ob Contact, a display name in From.
    "JsSIP": ("<sip:{user}@{host};transport=ws;ob>", '"Agent" <{aor}>'),
    # SIP.js 0.21: Contact params after the URI (expires, +sip.ice, reg-id, instance).
    "SIP.js 0.21": ('<sip:{user}@{host};transport=ws>;expires=600;+sip.ice;reg-id=1;'
                    '+sip.instance="<urn:uuid:0e6c8d8a-2c4b-4b57-9a38-2e0f8a3a6f11>"', "<{aor}>"),
}


class Phones:
    """An agent on the relay, and a caller straight on the PBX that rings the agent's Contact (`agent-USER`),
    as Asterisk calls a registered phone."""

    def __init__(self, relay: TestClient, settings, stack_env, pbx: OwnKamailio, client: str) -> None:
        self.relay, self.settings, self.pbx = relay, settings, pbx
        self.secret = agents.agent_secret(stack_env["AUTH_KEY_SECRET"])
        self.username = new_username()
        self.host = f"{secrets.token_hex(5)}.invalid"
        contact, self.from_shape = CLIENTS[client]
        self.contact = contact.format(user=secrets.token_hex(4), host=self.host)
        self.opened: list[Agent] = []
        self.http: aiohttp.ClientSession | None = None

    async def agent(self, relay: TestClient | None = None) -> Agent:
        """The agent on a new session (a reconnect: same Contact), registered."""
        query = session_query(self.settings.auth_key_secret, self.username)
        ws = await (relay or self.relay).ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",))
        return await self._registered(ws, self.username, contact=self.contact)

    async def caller(self) -> Agent:
        self.http = aiohttp.ClientSession()
        return await self._registered(await self.http.ws_connect(self.pbx.url, protocols=("sip",)), new_username())

    async def _registered(self, ws: aiohttp.ClientWebSocketResponse, user: str, contact: str | None = None) -> Agent:
        agent = Agent(ws, user, agents.agent_password(self.secret, user), timeout=5)
        if contact is not None:
            agent.host, agent.contact = self.host, contact
        agent.answer_sdp = no_sdp
        agent.start()
        self.opened.append(agent)
        await agent.register()
        return agent

    async def close(self) -> None:
        for agent in self.opened:
            if not agent.ws.closed:
                await agent.close()
        if self.http is not None:
            await self.http.close()


async def no_sdp(offer: bytes) -> bytes:
    return b""


@pytest.fixture
async def phones_factory(relay, relay_settings, stack_env, pbx):
    made: list[Phones] = []

    def make(client: str) -> Phones:
        made.append(Phones(relay, relay_settings, stack_env, pbx, client))
        return made[-1]

    yield make
    for phones in made:
        await phones.close()


async def on_the_new_session(agent: Agent, dialog: Dialog) -> None:
    agent._dialogs[dialog.call_id] = dialog  # the page keeps its call across the reconnect


async def hold_and_resume(agent: Agent, dialog: Dialog, caller: Agent, caller_dialog: Dialog) -> None:
    for _ in ("hold", "resume"):
        assert (await agent.reinvite(dialog)).status == 200  # From: the Contact the PBX called
        assert (await caller.reinvite(caller_dialog)).status == 200  # the PBX's re-INVITE, answered by the agent


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("hangs_up", ["agent", "caller"])
async def test_the_pbxs_call_to_the_agents_contact_survives_reconnect_and_restart(
        phones_factory, relay_settings, aiohttp_client, client, hangs_up):
    phones = phones_factory(client)
    agent = await phones.agent()
    caller = await phones.caller()
    caller_dialog, _ = await caller.invite(f"agent-{phones.username}", b"")
    dialog = await asyncio.wait_for(agent.incoming.get(), 5)
    assert dialog.local_uri == sip.uri_of(phones.contact)  # To (so the agent's From): its Contact, not its AOR
    await hold_and_resume(agent, dialog, caller, caller_dialog)

    await agent.close()  # a reconnect to the same process: it saw the dialog set up
    agent = await phones.agent()
    await on_the_new_session(agent, dialog)
    await hold_and_resume(agent, dialog, caller, caller_dialog)

    await agent.close()  # the service restarted: a process that never saw the dialog
    restarted = await aiohttp_client(create_app(relay_settings))
    agent = await phones.agent(restarted)
    await on_the_new_session(agent, dialog)
    await hold_and_resume(agent, dialog, caller, caller_dialog)

    if hangs_up == "agent":
        await agent.bye(dialog)
        await asyncio.wait_for(caller_dialog.ended.wait(), 5)
    else:
        await caller.bye(caller_dialog)
        await asyncio.wait_for(dialog.ended.wait(), 5)
