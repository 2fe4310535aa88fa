"""Helpers for the relay tests: session queries, handshake headers, a look into Kamailio's location table."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from service.sip_proxy import handshake, links
from tools.sipload import agents
from tools.sipload.ua import Agent


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds))


def session_query(secret: str, username: str, expire_date: str | None = None, customer_id: int = 1,
                  user_id: int | None = None) -> dict[str, str]:
    expire_date = expire_date or in_(3600)
    user_id = user_id if user_id is not None else (int(username) if username.isdigit() else 1)
    return links.session_query(secret, customer_id=customer_id, user_id=user_id, username=username,
                               expire_date=expire_date)


def new_username() -> str:
    """A fresh numeric agent name, so tests never see each other's (or a browser's) registrations."""
    return str(700000 + secrets.randbelow(299999))


async def registered_agent(client: Any, secret: str, stack_env: dict[str, str], username: str) -> Agent:
    """A demo agent's user agent, registered over a session opened on `client` (an aiohttp test client)."""
    query = session_query(secret, username)
    ws = await client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",))
    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), username)
    agent = Agent(ws, username, password, timeout=5)
    agent.start()
    await agent.register()
    return agent


def kamailio_lookup(user: str, run_dir: Path | None = None) -> bool:
    """Does Kamailio's location table hold a binding for `user`? (kamcmd over the ctl socket in `run_dir`,
    by default the stack's Kamailio's)"""
    from devstack.kamailio import RUN_DIR

    out = subprocess.run(
        ["kamcmd", "-s", f"unix:{run_dir or RUN_DIR}/kamailio_ctl", "ul.lookup", "location", f"s:{user}"],
        capture_output=True, text=True, timeout=10).stdout
    return "AOR not found" not in out and "Contact" in out


def upgrade_headers(protocol: str | None = "sip", origin: str | None = None) -> dict[str, str]:
    """The headers of a browser's WebSocket handshake, for requests whose refusal we want to read."""
    headers = {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    if origin:
        headers["Origin"] = origin
    return headers


async def direct_to_kamailio(stack_env: dict[str, str],
                             session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(stack_env.get("SIP_UPSTREAM", "ws://127.0.0.1:8088"), protocols=("sip",))


class RawWebSocket:
    """A hand-made client WebSocket over asyncio streams, to send what aiohttp's client never would
    (fragments, unmasked frames) and to read frames exactly as the relay wrote them."""

    def __init__(self, reader, writer) -> None:
        self.reader, self.writer = reader, writer
        from service.sip_proxy.wsframe import FrameReader

        self.frames = FrameReader(masked=False, max_size=1 << 20)
        self.pending: list = []

    @classmethod
    async def connect(cls, host: str, port: int, path: str) -> RawWebSocket:
        import asyncio

        from service.sip_proxy import handshake

        reader, writer = await asyncio.open_connection(host, port)
        key = handshake.new_key()
        writer.write(handshake.request_bytes(f"ws://{host}:{port}{path}", key))
        head = await reader.readuntil(b"\r\n\r\n")
        handshake.check_response(head[:-4], key)
        return cls(reader, writer)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_frame(self):
        while not self.pending:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            self.pending += self.frames.feed(data)
        return self.pending.pop(0)

    def close(self) -> None:
        self.writer.close()


class Peer(asyncio.DatagramProtocol):
    """A UDP peer on loopback that queues what reaches it through coturn."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.put_nowait(data)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls) -> AsyncIterator[tuple[Peer, tuple[str, int]]]:
        transport, peer = await asyncio.get_running_loop().create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        try:
            yield peer, transport.get_extra_info("sockname")
        finally:
            transport.close()


@contextlib.asynccontextmanager
async def turn_allocation(creds: dict, port: int) -> AsyncIterator[TurnClientUdpProtocol]:
    """A UDP allocation on coturn with `creds` (aioice's TURN client: Allocate, ChannelBind, ChannelData)."""
    loop = asyncio.get_running_loop()
    server = ("127.0.0.1", port)
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(server, creds["username"], creds["password"], lifetime=600,
                                      channel_refresh_time=300), remote_addr=server)
    try:
        await client.connect()
        yield client
    finally:
        if client.refresh_task is not None:
            client.refresh_task.cancel()
        transport.close()


async def refresh_allocation(client: TurnClientUdpProtocol) -> int:
    """A Refresh asking for 600 s more: the lifetime coturn grants, or the error code it answers."""
    request = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
    request.attributes["LIFETIME"] = 600
    try:
        response, _ = await client.request_with_retry(request)
    except stun.TransactionFailed as exc:
        code = exc.response.error_code
        assert code is not None, "a failed STUN transaction answers with an error code"
        return -code
    return response.attributes["LIFETIME"]


async def relays(client: TurnClientUdpProtocol, peer: Peer, peer_addr, payload: bytes, window: float) -> bool:
    """Does `payload`, sent through the allocation, reach the peer within `window` seconds?"""
    await client.send_data(payload, peer_addr)
    try:
        return await asyncio.wait_for(peer.received.get(), window) == payload
    except TimeoutError:
        return False


async def never_set(event: asyncio.Event, within: float) -> None:
    """Assert that `event` stays unset for the whole of `within` seconds (waiting on it, not sleeping)."""
    try:
        await asyncio.wait_for(event.wait(), within)
    except TimeoutError:
        return
    raise AssertionError(f"the event happened within {within} s")


async def until(condition: Callable[[], bool], within: float, step: float = 0.01) -> None:
    """Wait for `condition()` to hold, checking every `step` s; fail if it does not within `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(step)


async def accept_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A fake PBX's side of the opening handshake: read the upgrade and answer 101 with the `sip` subprotocol."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key:"))
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {handshake.accept_for(key)}\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
                 .encode())


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def loopback_server(handler: Handler) -> AsyncIterator[str]:
    """A TCP server on a free loopback port running `handler` per connection: a fake PBX; its ws:// URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def _hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def full_pbx() -> contextlib.AbstractAsyncContextManager[str]:
    """Asterisk over its http.conf sessionlimit: it takes the connection and closes it without a word."""
    return loopback_server(_hang_up)
