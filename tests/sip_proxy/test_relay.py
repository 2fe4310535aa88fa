"""The relay against the real Kamailio: registration, calls, refusals, expiry, upstream loss, limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from devstack import kamailio, procs
from service.app import create_app
from service.sip_proxy import sip, wsframe
from service.sip_proxy.routes import PER_KEY, RELAYS, close_sessions
from tools.sipload import agents, messages
from tools.sipload.ua import Agent, SipError

from .helpers import (
    RawWebSocket,
    accept_websocket,
    in_,
    kamailio_lookup,
    loopback_server,
    never_set,
    new_username,
    session_query,
    until,
    upgrade_headers,
)


@pytest.mark.stack
async def test_register_with_digest_auth_through_the_relay(connect):
    agent = await connect(register=False)
    took = await agent.register()
    assert took > 0
    assert kamailio_lookup(agent.username)


@pytest.mark.stack
async def test_a_wrong_sip_password_is_refused_by_kamailio(connect):
    agent = await connect(register=False, password="wrong")
    with pytest.raises(SipError) as info:
        await agent.register()
    assert info.value.status == 401


async def _pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@pytest.mark.stack
async def test_two_agents_call_each_other_with_real_sdp(connect):
    caller, callee = await connect(), await connect()
    caller_pc, callee_pc = await _pc(), await _pc()
    try:
        caller_pc.addTransceiver("audio", direction="sendrecv")
        await caller_pc.setLocalDescription(await caller_pc.createOffer())
        offer = caller_pc.localDescription.sdp.encode()

        async def answer(remote: bytes) -> bytes:
            await callee_pc.setRemoteDescription(RTCSessionDescription(remote.decode(), "offer"))
            await callee_pc.setLocalDescription(await callee_pc.createAnswer())
            return callee_pc.localDescription.sdp.encode()

        callee.answer_sdp = answer
        dialog, _ = await caller.invite(callee.username, offer)  # INVITE, 407, INVITE, 100, 180, 200, ACK
        incoming = await asyncio.wait_for(callee.incoming.get(), 5)
        assert incoming.remote_sdp == offer  # the relay passed the SDP through byte for byte
        assert b"m=audio" in dialog.remote_sdp and b"a=fingerprint" in dialog.remote_sdp
        await caller_pc.setRemoteDescription(RTCSessionDescription(dialog.remote_sdp.decode(), "answer"))
        await caller.bye(dialog)
        await asyncio.wait_for(incoming.ended.wait(), 5)  # the callee got the BYE and answered 200
    finally:
        await caller_pc.close()
        await callee_pc.close()


@pytest.mark.stack
async def test_calling_an_unregistered_agent_gets_404(connect):
    caller = await connect()
    with pytest.raises(SipError) as info:
        await caller.invite(new_username(), b"")
    assert info.value.status == 404



@pytest.mark.stack
async def test_crlf_keepalive_is_answered_through_the_relay(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, new_username())
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str("\r\n\r\n")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.TEXT and msg.data == "\r\n"


# -- refusals before the upgrade ---------------------------------------------------------------------------

async def _refusal(relay, query: dict[str, str], **headers) -> tuple[int, dict]:
    response = await relay.get(f"/ws?{urlencode(query)}", headers=upgrade_headers(**headers))
    return response.status, await response.json()


async def test_a_forged_key_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001")
    query["auth_key"] = query["auth_key"][::-1]
    status, body = await _refusal(local_relay, query)
    assert (status, body["reason"], body["status"]) == (401, "bad_auth_key", 401)


async def test_a_key_for_another_user_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001", user_id=1001)
    query["username"] = "1002"
    status, body = await _refusal(local_relay, query)
    assert (status, body["reason"]) == (401, "bad_auth_key")


async def test_a_missing_key_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001")
    del query["auth_key"]
    status, body = await _refusal(local_relay, query)
    assert (status, body["reason"]) == (401, "missing_parameter")


async def test_an_expired_session_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001", expire_date=in_(-1))
    status, body = await _refusal(local_relay, query)
    assert (status, body["reason"]) == (403, "session_expired")


async def test_a_foreign_origin_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001")
    status, body = await _refusal(local_relay, query, origin="https://evil.example.com")
    assert (status, body["reason"]) == (403, "origin_not_allowed")


@pytest.mark.stack
async def test_the_own_origin_is_allowed(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, "1001")
    own = f"http://{relay.server.host}:{relay.server.port}"
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",), origin=own) as ws:
        assert ws.protocol == "sip"


@pytest.mark.stack
async def test_allowed_origins_are_accepted(aiohttp_client, make_settings, stack_env):
    from service.app import create_app

    settings = make_settings({**stack_env, "ALLOWED_ORIGINS": "https://crm.example.com"})
    client = await aiohttp_client(create_app(settings))
    query = session_query(settings.auth_key_secret, "1001")
    async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",), origin="https://crm.example.com") as ws:
        assert ws.protocol == "sip"
    status, _body = await _refusal(client, query, origin="https://other.example.com")
    assert status == 403


async def test_no_sip_subprotocol_is_refused(local_relay, local_settings):
    query = session_query(local_settings.auth_key_secret, "1001")
    status, body = await _refusal(local_relay, query, protocol=None)
    assert (status, body["reason"]) == (400, "no_sip_subprotocol")
    status, body = await _refusal(local_relay, query, protocol="chat")
    assert (status, body["reason"]) == (400, "no_sip_subprotocol")


async def test_a_plain_get_is_not_a_websocket(local_relay):
    response = await local_relay.get("/ws")
    assert response.status == 400 and (await response.json())["reason"] == "not_websocket"


# -- SIP awareness ----------------------------------------------------------------------------------------

@pytest.mark.stack
async def test_a_spoofed_register_gets_403_and_never_reaches_kamailio(connect, stack_env):
    """A correctly authenticated REGISTER for another user: Kamailio would accept it, the relay must not pass it."""
    victim = new_username()
    password = agents.agent_password(agents.agent_secret(stack_env["AUTH_KEY_SECRET"]), victim)
    async with aiohttp.ClientSession() as http:
        # A nonce from Kamailio itself, fetched directly, so the forged REGISTER would pass its digest check.
        direct = await http.ws_connect(stack_env["SIP_UPSTREAM"], protocols=("sip",))
        probe = Agent(direct, victim, password)
        probe.start()
        probe_contact = probe.contact
        with pytest.raises(SipError):
            probe.password = "wrong"
            await probe.register()
        await probe.close()

        attacker = await connect()
        forged = Agent(attacker.ws, victim, password)  # the attacker's socket, the victim's identity
        forged.contact = probe_contact
        attacker._reader.cancel()
        forged.start()
        with pytest.raises(SipError) as info:
            await forged.register()
        assert info.value.status == 403
        assert not kamailio_lookup(victim)

        # The control: the very same agent, straight to Kamailio, does get registered.
        direct = await http.ws_connect(stack_env["SIP_UPSTREAM"], protocols=("sip",))
        honest = Agent(direct, victim, password)
        honest.start()
        await honest.register()
        assert kamailio_lookup(victim)
        await honest.close()


@pytest.mark.stack
async def test_a_spoofed_invite_gets_403_and_the_callee_never_rings(connect):
    caller, callee = await connect(), await connect()
    rang = asyncio.Event()

    async def answer(sdp: bytes) -> bytes:
        rang.set()
        return b""

    callee.answer_sdp = answer
    caller.username, caller.aor = "someone-else", "sip:someone-else@omnisense.local"
    with pytest.raises(SipError) as info:
        await caller.invite(callee.username, b"")
    assert info.value.status == 403
    await never_set(rang, within=1.0)  # a forwarded INVITE rings the callee in milliseconds here


@pytest.mark.stack
async def test_a_spoofed_register_answer_copies_the_transaction(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, "1001")
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str(
            "REGISTER sip:omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKspoof\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:1001@omnisense.local>;tag=a\r\nTo: <sip:1002@omnisense.local>\r\n"
            "Call-ID: spoof-1\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.TEXT
        answer = sip.parse(msg.data.encode())
        assert (answer.status, answer.get("call-id"), answer.get("cseq")) == (403, "spoof-1", "7 REGISTER")
        assert answer.get("via") == "SIP/2.0/WS x.invalid;branch=z9hG4bKspoof"


@pytest.mark.stack
async def test_non_sip_text_closes_with_1008(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, "1001")
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str("hello, is this the PBX?")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008


@pytest.mark.stack
async def test_a_frame_over_64_kib_closes_with_1009(relay, relay_settings):
    query = session_query(relay_settings.auth_key_secret, "1001")
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str("MESSAGE sip:1002@omnisense.local SIP/2.0\r\n\r\n" + "x" * (64 * 1024))
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1009


@pytest.mark.stack
async def test_metrics_count_methods_codes_and_sessions(relay, connect):
    await connect()
    text = await (await relay.get("/metrics")).text()
    assert 'sip_relay_requests_total{direction="browser",method="REGISTER"} 2.0' in text
    assert 'sip_relay_responses_total{code="401",direction="upstream"} 1.0' in text
    assert 'sip_relay_responses_total{code="200",direction="upstream"} 1.0' in text
    assert "sip_relay_sessions_active 1.0" in text


# -- closing ----------------------------------------------------------------------------------------------

async def _until_both_legs_gone(relay, username: str) -> None:
    """Wait up to 5 s for the relay to forget its session and Kamailio its binding (handle_lost_tcp)."""
    for _ in range(50):
        if not relay.app[RELAYS] and not kamailio_lookup(username):
            break
        await asyncio.sleep(0.1)
    assert not relay.app[RELAYS]
    assert not kamailio_lookup(username)


@pytest.mark.stack
async def test_the_session_closes_with_4001_at_its_expire_date(connect, relay):
    agent = await connect(expire_date=in_(2))
    await asyncio.wait_for(agent.closed.wait(), 10)
    assert agent.ws.close_code == 4001
    await _until_both_legs_gone(relay, agent.username)


@pytest.mark.stack
async def test_closing_the_browser_closes_the_upstream(connect, relay):
    agent = await connect()
    assert kamailio_lookup(agent.username)
    await agent.close()
    await _until_both_legs_gone(relay, agent.username)


@pytest.mark.stack
async def test_shutdown_closes_every_session_with_1001(connect, relay):
    first, second = await connect(), await connect()
    await close_sessions(relay.app)
    await asyncio.wait_for(asyncio.gather(first.closed.wait(), second.closed.wait()), 5)
    assert first.ws.close_code == second.ws.close_code == 1001


@pytest.mark.stack
async def test_an_unreachable_upstream_closes_the_browser_with_1013(aiohttp_client, make_settings, stack_env):
    from service.app import create_app

    settings = make_settings({**stack_env, "SIP_UPSTREAM": "ws://127.0.0.1:9"})
    client = await aiohttp_client(create_app(settings))
    query = session_query(settings.auth_key_secret, "1001")
    async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013


@pytest.mark.stack
async def test_a_browser_leaving_during_the_upstream_connect_leaves_no_upstream_socket(
        aiohttp_client, make_settings, stack_env):
    """A slow PBX answers the upgrade only after the browser has gone: the relay must drop that upstream leg."""
    from service.app import create_app
    from service.sip_proxy import handshake

    connected, browser_gone, upstream_closed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_pbx(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        connected.set()
        await browser_gone.wait()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {handshake.accept_for(key)}\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
                     .encode())
        await reader.read()  # until the relay closes its end
        upstream_closed.set()
        writer.close()

    pbx = await asyncio.start_server(slow_pbx, "127.0.0.1", 0)
    port = pbx.sockets[0].getsockname()[1]
    try:
        settings = make_settings({**stack_env, "SIP_UPSTREAM": f"ws://127.0.0.1:{port}"})
        client = await aiohttp_client(create_app(settings))
        query = session_query(settings.auth_key_secret, new_username())
        _reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(handshake.request_bytes(f"ws://127.0.0.1/ws?{urlencode(query)}", handshake.new_key()))
        await asyncio.wait_for(connected.wait(), 5)
        writer.close()
        # Until aiohttp has seen the browser's socket close (the handler is still waiting for the PBX).
        server = client.server.runner.server
        await until(lambda: not server.connections, within=5.0)
        browser_gone.set()
        await asyncio.wait_for(upstream_closed.wait(), 5)
        assert not client.app[RELAYS]
    finally:
        browser_gone.set()
        pbx.close()

@pytest.mark.alone
@pytest.mark.stack
async def test_kamailio_restart_closes_with_1013_and_new_sessions_work(connect, stack_env):
    agent = await connect()
    try:
        await asyncio.to_thread(kamailio.stop)
        await asyncio.wait_for(agent.closed.wait(), 10)
        assert agent.ws.close_code == 1013
    finally:
        await asyncio.to_thread(kamailio.start, stack_env)  # running again whatever happened above
    assert procs.running(kamailio.NAME)
    again = await connect(agent.username)
    assert kamailio_lookup(again.username)


@pytest.mark.stack
async def test_logs_never_show_the_auth_key(aiohttp_client, relay_settings, caplog):
    from service.app import create_app
    from service.server import AccessLogger

    # The production access logger (service.server), not aiohttp's default one, which logs query strings.
    server = TestServer(create_app(relay_settings))
    await server.start_server(access_log_class=AccessLogger)
    relay = await aiohttp_client(server)
    caplog.set_level(logging.DEBUG)
    query = session_query(relay_settings.auth_key_secret, "1001")
    forged = dict(query, auth_key="forged" + query["auth_key"][6:])
    await _refusal(relay, forged)
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str("not sip")
        await ws.receive()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /ws" in logged and "bad_auth_key" in logged  # the request, refusal and close were logged...
    assert query["auth_key"] not in logged and forged["auth_key"] not in logged  # ...without the keys


@pytest.mark.stack
async def test_a_second_from_header_closes_with_1008_and_is_not_forwarded(relay, relay_settings):
    username = new_username()
    query = session_query(relay_settings.auth_key_secret, username)
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str(
            f"REGISTER sip:omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKdup\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{username}@omnisense.local>;tag=a\r\n"
            f"To: <sip:{username}@omnisense.local>\r\nFROM: <sip:1002@omnisense.local>;tag=b\r\n"
            "Call-ID: dup-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008


# -- framing corner cases, with a hand-made client --------------------------------------------------------

def _register(username: str) -> bytes:
    return messages.register(username=username, host="raw.invalid", branch=f"z9hG4bKraw{username}",
                             call_id=f"raw-{username}", from_tag="r").encode()


@contextlib.asynccontextmanager
async def _raw(relay, relay_settings, username: str) -> AsyncIterator[RawWebSocket]:
    """A raw WebSocket through the relay for `username`, closed however the test ends."""
    query = session_query(relay_settings.auth_key_secret, username)
    raw = await RawWebSocket.connect(relay.server.host, relay.server.port, f"/ws?{urlencode(query)}")
    try:
        yield raw
    finally:
        raw.close()


@pytest.mark.stack
async def test_a_fragmented_register_is_reassembled_and_answered(relay, relay_settings):
    username = new_username()
    message = _register(username)
    async with _raw(relay, relay_settings, username) as raw:
        raw.send_raw(wsframe.encode(wsframe.Opcode.TEXT, message[:40], mask=True, fin=False))
        raw.send_raw(wsframe.encode(wsframe.Opcode.PING, b"are you there", mask=True))  # between fragments: allowed
        raw.send_raw(wsframe.encode(wsframe.Opcode.CONTINUATION, message[40:], mask=True))
        frames = [await asyncio.wait_for(raw.next_frame(), 5) for _ in range(2)]
        pong, answer = sorted(frames, key=lambda f: f[0] & 0x0F != wsframe.Opcode.PONG)
        assert pong[0] & 0x0F == wsframe.Opcode.PONG and pong[1] == b"are you there"
        assert answer[0] == 0x81 and answer[1].startswith(b"SIP/2.0 401")  # Kamailio's digest challenge, as text


@pytest.mark.stack
async def test_a_binary_register_gets_a_text_answer(relay, relay_settings):
    username = new_username()
    async with _raw(relay, relay_settings, username) as raw:
        raw.send_raw(wsframe.encode(wsframe.Opcode.BINARY, _register(username), mask=True))
        first, payload, _, _ = await asyncio.wait_for(raw.next_frame(), 5)
        assert first & 0x0F == wsframe.Opcode.TEXT and payload.startswith(b"SIP/2.0 401")


@pytest.mark.stack
async def test_an_unmasked_frame_from_a_browser_closes_with_1002(relay, relay_settings):
    async with _raw(relay, relay_settings, new_username()) as raw:
        raw.send_raw(wsframe.encode(wsframe.Opcode.TEXT, b"OPTIONS sip:x SIP/2.0\r\n\r\n", mask=False))
        first, payload, _, _ = await asyncio.wait_for(raw.next_frame(), 5)
        assert first & 0x0F == wsframe.Opcode.CLOSE and wsframe.parse_close(payload) == 1002


@pytest.mark.stack
async def test_a_frame_arriving_byte_by_byte_is_relayed(relay, relay_settings):
    """A read may hold a single byte of a frame (TCP delivers what it likes): the fast path must not index past it."""
    username = new_username()
    async with _raw(relay, relay_settings, username) as raw:
        for byte in wsframe.encode(wsframe.Opcode.TEXT, _register(username), mask=True):
            raw.send_raw(bytes((byte,)))
            await raw.writer.drain()
            await asyncio.sleep(0.001)
        first, payload, _, _ = await asyncio.wait_for(raw.next_frame(), 5)
        assert first == 0x81 and payload.startswith(b"SIP/2.0 401")


@pytest.mark.stack
async def test_a_lower_case_register_for_another_user_gets_403(relay, relay_settings):
    """Kamailio reads method names in any case ("register" is a REGISTER), so the identity check must too."""
    username = new_username()
    async with _raw(relay, relay_settings, username) as raw:
        spoof = _register(username).replace(f"<sip:{username}@".encode(), b"<sip:1002@")
        spoof = spoof.replace(b"REGISTER", b"register")
        raw.send_raw(wsframe.encode(wsframe.Opcode.TEXT, spoof, mask=True))
        first, payload, _, _ = await asyncio.wait_for(raw.next_frame(), 5)
        assert first == 0x81 and payload.startswith(b"SIP/2.0 403")

@pytest.mark.stack
async def test_a_new_message_inside_a_fragmented_one_closes_with_1002(relay, relay_settings):
    """RFC 6455 5.4: a data frame other than a continuation while a fragmented message is open is an error."""
    username = new_username()
    message = _register(username)
    async with _raw(relay, relay_settings, username) as raw:
        raw.send_raw(wsframe.encode(wsframe.Opcode.TEXT, message[:40], mask=True, fin=False))
        raw.send_raw(wsframe.encode(wsframe.Opcode.TEXT, message, mask=True))
        first, payload, _, _ = await asyncio.wait_for(raw.next_frame(), 5)
        assert first & 0x0F == wsframe.Opcode.CLOSE and wsframe.parse_close(payload) == 1002


@pytest.mark.stack
async def test_a_browser_that_pings_but_never_reads_is_not_buffered_without_bound(relay, relay_settings):
    """Pongs (and 403s) go to the browser's own socket: when it is full, the relay stops reading that browser."""
    import socket

    from service.sip_proxy import handshake

    query = session_query(relay_settings.auth_key_secret, new_username())
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel absorbs little of what is not read
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (relay.server.host, relay.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = handshake.new_key()
    writer.write(handshake.request_bytes(f"ws://127.0.0.1/ws?{urlencode(query)}", key))
    handshake.check_response((await reader.readuntil(b"\r\n\r\n"))[:-4], key)
    try:
        ping = wsframe.encode(wsframe.Opcode.PING, b"x" * 125, mask=True)
        writer.write(ping * 32_000)  # 4 MB of pings, 4 MB of pongs that are never read
        (session,) = relay.app[RELAYS]
        buffered = session.browser.transport.get_write_buffer_size
        for _ in range(100):  # until the relay stops reading this browser (it never reads, so for good)
            await asyncio.sleep(0.05)
            if buffered() > 1 << 20 or session.core.browser.read_holds:
                break
        assert session.core.browser.read_holds and buffered() < 1 << 20
    finally:
        writer.transport.abort()


@pytest.mark.stack
async def test_readiness_reports_the_upstream(relay, aiohttp_client, make_settings, stack_env):
    from service.app import create_app

    body = await (await relay.get("/readyz")).json()
    assert body["checks"]["sip_upstream"] == "ok"
    client = await aiohttp_client(create_app(make_settings({**stack_env, "SIP_UPSTREAM": "ws://127.0.0.1:9"})))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and "127.0.0.1:9 unreachable" in body["checks"]["sip_upstream"]


async def test_a_60_kib_message_reaches_kamailio_and_gets_its_answer(connect):
    """The README's 64 KiB per message holds on the local stack: Kamailio reads a 60 KiB MESSAGE whole, answers
    it itself (404 for an agent nobody registered) or forwards it to the agent, whose 200 comes back."""
    sender, receiver = await connect(), await connect()
    text = "x" * (60 * 1024)
    assert (await sender.message(new_username(), text)).status == 404
    assert (await sender.message(receiver.username, text)).status == 200
    assert await asyncio.wait_for(receiver.texts.get(), 5) == text.encode()


async def test_more_sessions_than_max_sessions_per_key_are_refused_with_429(relay, relay_settings):
    limit = relay_settings.max_sessions_per_key
    query = session_query(relay_settings.auth_key_secret, new_username())
    other = session_query(relay_settings.auth_key_secret, new_username())
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(limit):
            await stack.enter_async_context(relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)))
        status, body = await _refusal(relay, query)
        assert (status, body["reason"], body["status"]) == (429, "too_many_sessions", 429)
        # Another key is not held back, and a session closing frees its place.
        async with relay.ws_connect(f"/ws?{urlencode(other)}", protocols=("sip",)) as ws:
            await ws.send_str("\r\n\r\n")
            assert (await asyncio.wait_for(ws.receive(), 5)).data == "\r\n"
    # The sessions closed on this side; wait for the relay to see them go (its session count falls to zero).
    per_key = relay.app[PER_KEY]
    for _ in range(100):
        if len(per_key) == 0:
            break
        await asyncio.sleep(0.05)
    assert len(per_key) == 0
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str("\r\n\r\n")
        assert (await asyncio.wait_for(ws.receive(), 5)).data == "\r\n"
    text = await (await relay.get("/metrics")).text()
    assert 'sip_relay_refusals_total{reason="too_many_sessions"} 1.0' in text


async def test_a_flood_of_refused_invites_writes_a_few_lines_and_counts_them_all(relay, relay_settings, caplog):
    query = session_query(relay_settings.auth_key_secret, new_username())
    flood = 2000
    caplog.set_level(logging.INFO, logger="service.sip_proxy")
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        for i in range(flood):
            await ws.send_str(
                f"INVITE sip:1002@omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKflood{i}\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:someone-else@omnisense.local>;tag=a\r\n"
                "To: <sip:1002@omnisense.local>\r\n"
                f"Call-ID: flood-{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        for _ in range(flood):  # every one answered 403 by the relay itself
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert sip.parse(msg.data.encode()).status == 403
    refused = [r for r in caplog.records if "refused INVITE" in r.getMessage()]
    assert 1 <= len(refused) <= 10, len(refused)
    text = await (await relay.get("/metrics")).text()
    assert f'sip_relay_refusals_total{{reason="identity_mismatch"}} {float(flood)}' in text


# -- what held under attack, kept so that it keeps holding ------------------------------------------------------

def _masked(first: int, payload: bytes, length: bytes | None = None) -> bytes:
    """A client frame by hand: first byte, mask bit and length (or `length`, the raw length bytes), key, payload."""
    key = b"\x37\xfa\x21\x3d"
    if length is None:
        short = len(payload) < 126
        length = bytes([0x80 | len(payload)]) if short else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return bytes([first]) + length + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@contextlib.asynccontextmanager
async def _handshaken(relay, relay_settings, username: str):
    """A raw socket past the relay's 101, built by hand (nothing of the relay's own framing code)."""
    query = session_query(relay_settings.auth_key_secret, username)
    reader, writer = await asyncio.open_connection(relay.server.host, relay.server.port)
    writer.write((f"GET /ws?{urlencode(query)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Protocol: sip\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield reader, writer
    finally:
        writer.close()


async def _close_code(reader: asyncio.StreamReader) -> int:
    """Read server frames until a Close; its code."""
    while True:
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            return int.from_bytes(payload[:2], "big")


FRAME_ABUSE = {
    "unmasked": (bytes([0x81, 0x05]) + b"hello", 1002),
    "rsv1": (_masked(0xC1, b"OPTIONS sip:x SIP/2.0\r\n\r\n"), 1002),
    "rsv2 and rsv3": (_masked(0xB1, b"OPTIONS sip:x SIP/2.0\r\n\r\n"), 1002),
    "opcode 3": (_masked(0x83, b"x"), 1002),
    "opcode 11": (_masked(0x8B, b"x"), 1002),
    "a 126-byte ping": (_masked(0x89, b"p" * 126), 1002),
    "a fragmented ping": (_masked(0x09, b"p"), 1002),
    "a 2^63 length": (bytes([0x81, 0x80 | 127]) + (1 << 63).to_bytes(8, "big") + b"\0\0\0\0", 1009),
    "a 2^63-1 length": (bytes([0x81, 0x80 | 127]) + ((1 << 63) - 1).to_bytes(8, "big") + b"\0\0\0\0", 1009),
}


@pytest.mark.parametrize("abuse", FRAME_ABUSE)
async def test_frame_abuse_closes_its_session_and_leaves_a_bystander_untouched(connect, relay, relay_settings, abuse):
    bystander = await connect()
    frame, code = FRAME_ABUSE[abuse]
    async with _handshaken(relay, relay_settings, new_username()) as (reader, writer):
        writer.write(frame)
        assert await _close_code(reader) == code
    await bystander.send("\r\n\r\n")  # the bystander's session still relays, and it is still registered
    await bystander.register()
    assert kamailio_lookup(bystander.username)


@pytest.mark.stack
async def test_after_the_relay_s_close_nothing_more_is_written_on_the_browser_s_socket(relay, relay_settings):
    """aiohttp's WebSocket response is dropped once the 101 is out (memory): when the handler returns, aiohttp
    must not write a Close of its own, or anything else, after the relay's."""
    username = new_username()
    async with _handshaken(relay, relay_settings, username) as (reader, writer):
        writer.write(_masked(0x88, (4321).to_bytes(2, "big")))
        assert await _close_code(reader) == 4321  # the relay echoes the browser's code
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then the socket ends with nothing after it
    await _until_both_legs_gone(relay, username)


def _spoof(own: str, victim: str, *, method: str = "INVITE", from_line: str | None = None,
           to_line: str | None = None) -> bytes:
    from_line = from_line or f"From: <sip:{victim}@omnisense.local>;tag=s"
    to_line = to_line or f"To: <sip:{victim}@omnisense.local>"
    uri = "sip:omnisense.local" if method == "REGISTER" else f"sip:{victim}@omnisense.local"
    return (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKspoof\r\nMax-Forwards: 70\r\n"
            f"{from_line}\r\n{to_line}\r\nCall-ID: spoof-{own}\r\nCSeq: 1 {method}\r\n"
            f"Contact: <sip:{own}@x.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n").encode()


def _percent(user: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in user)


SPOOFS = {
    "compact f:": {"from_line": "f: <sip:{victim}@omnisense.local>;tag=s"},
    "a display name saying the agent's own name": {"from_line": 'From: "{own}" <sip:{victim}@omnisense.local>;tag=s'},
    "the agent in the display name, the victim in a sips URI": {
        "from_line": 'From: "sip:{own}@omnisense.local" <sips:{victim}@omnisense.local>'},
    "upper-case FROM": {"from_line": "FROM: <sip:{victim}@omnisense.local>;tag=s"},
    "percent-encoded user": {"from_line": "From: <sip:{pct}@omnisense.local>;tag=s"},
    "REGISTER binding the victim (own From, victim To)": {
        "method": "REGISTER", "from_line": "From: <sip:{own}@omnisense.local>;tag=s",
        "to_line": "t: <sip:{victim}@omnisense.local>"},
    "lower-case register": {"method": "register", "from_line": "From: <sip:{own}@omnisense.local>;tag=s"},
}


@pytest.mark.parametrize("spoof", SPOOFS)
async def test_an_identity_spoof_in_any_spelling_gets_403_and_binds_nothing(relay, relay_settings, spoof):
    own, victim = new_username(), new_username()
    fields = {k: v.format(own=own, victim=victim, pct=_percent(victim)) for k, v in SPOOFS[spoof].items()}
    async with _handshaken(relay, relay_settings, own) as (reader, writer):
        message = _spoof(own, victim, **fields)
        writer.write(_masked(0x81, message))
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        answer = await reader.readexactly(length)
        assert first == 0x81 and answer.startswith(b"SIP/2.0 403"), answer[:60]
    assert not kamailio_lookup(victim)


async def test_two_from_headers_close_with_1008(relay, relay_settings):
    own, victim = new_username(), new_username()
    from_line = f"From: <sip:{own}@omnisense.local>;tag=t\r\nFrom: <sip:{victim}@omnisense.local>;tag=s"
    async with _handshaken(relay, relay_settings, own) as (reader, writer):
        writer.write(_masked(0x81, _spoof(own, victim, from_line=from_line)))
        assert await _close_code(reader) == 1008


BADLY_FRAMED = {
    "a folded From": "From: <sip:{own}@omnisense.local>\r\n <sip:{victim}@h>",
    "a bare CR (pjlib's line end) before the victim's From": (
        "X-A: 1\rFrom: <sip:{victim}@omnisense.local>;tag=s\r\nFrom: <sip:{own}@omnisense.local>;tag=t"),
    "a bare LF": "X-A: 1\nFrom: <sip:{own}@omnisense.local>;tag=t",
    "a NUL": "From: <sip:{own}@omnisense.local>;tag=t\x00",
}


@pytest.mark.stack
@pytest.mark.parametrize("framing", BADLY_FRAMED)
async def test_a_badly_framed_register_gets_400_and_the_session_goes_on(connect, framing):
    agent = await connect(register=False)
    own, victim = agent.username, new_username()
    from_line = BADLY_FRAMED[framing].format(own=own, victim=victim)
    message = _spoof(own, own, method="REGISTER", from_line=from_line).decode()
    answers: asyncio.Queue[sip.SipMessage] = asyncio.Queue()
    agent._pending["z9hG4bKspoof"] = answers
    await agent.send(message)
    answer = await asyncio.wait_for(answers.get(), 5)
    assert answer.status == 400 and not kamailio_lookup(own) and not kamailio_lookup(victim)
    await agent.register()  # a good message afterwards, on the same session
    assert kamailio_lookup(own)


# -- what reaches the relay early, and what the PBX cannot take -------------------------------------------

@pytest.mark.stack
async def test_frames_sent_before_the_101_arrives_are_relayed(relay, relay_settings):
    """A fast client writes its first frame right behind its handshake request, before reading the 101."""
    from service.sip_proxy import handshake

    username = new_username()
    query = session_query(relay_settings.auth_key_secret, username)
    reader, writer = await asyncio.open_connection(relay.server.host, relay.server.port)
    try:
        key = handshake.new_key()
        writer.write(handshake.request_bytes(f"ws://127.0.0.1/ws?{urlencode(query)}", key)
                     + wsframe.encode(wsframe.Opcode.TEXT, _register(username), mask=True))
        handshake.check_response((await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))[:-4], key)
        frames = wsframe.FrameReader(masked=False, max_size=1 << 20)
        got: list = []
        while not got:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "the relay closed instead of answering"
            got += frames.feed(data)
        first, payload, _, _ = got[0]
        assert first == 0x81 and payload.startswith(b"SIP/2.0 401")  # Kamailio's challenge to that REGISTER
    finally:
        writer.transport.abort()


@contextlib.asynccontextmanager
async def _fragile_pbx(limit: int) -> AsyncIterator[str]:
    """A PBX that answers each request with a 200 but, as Kamailio does with a message over its
    tcp_rd_buf_size, drops the connection without a word on a frame over `limit` bytes; its ws:// URL."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_websocket(reader, writer)
        frames = wsframe.FrameReader(masked=True, max_size=1 << 20)
        while data := await reader.read(1 << 20):
            for _first, payload, _key, _raw in frames.feed(data):
                if len(payload) > limit:
                    writer.transport.abort()
                    return
                writer.write(wsframe.encode(wsframe.Opcode.TEXT, b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                                            mask=False))
        writer.close()

    async with loopback_server(serve) as url:
        yield url


def _message(size: int) -> str:
    head = ("MESSAGE sip:1002@omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS big.invalid;branch=z9hG4bKbig\r\n"
            "From: <sip:1001@omnisense.local>;tag=b\r\nTo: <sip:1002@omnisense.local>\r\nCall-ID: big-1\r\n"
            f"CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n")
    return head + "x" * size


@contextlib.asynccontextmanager
async def _session_before_fragile_pbx(aiohttp_client, make_settings):
    """A browser session relayed to a PBX that drops any message over 16,000 bytes: the client and its socket."""
    async with _fragile_pbx(limit=16000) as url:
        settings = make_settings({"SIP_UPSTREAM": url})
        client = await aiohttp_client(create_app(settings))
        query = session_query(settings.auth_key_secret, "1001")
        async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
            yield client, ws


async def test_a_message_the_pbx_drops_is_not_reported_as_the_pbx_being_unavailable(aiohttp_client, make_settings):
    async with _session_before_fragile_pbx(aiohttp_client, make_settings) as (_client, ws):
        await ws.send_str(_message(100))
        answer = await asyncio.wait_for(ws.receive(), 5)
        assert answer.type is aiohttp.WSMsgType.TEXT and answer.data.startswith("SIP/2.0 200")
        await ws.send_str(_message(20000))
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011
        assert ws.close_code == 1011 and msg.extra == "the PBX dropped a message"


async def test_the_pbx_going_away_while_idle_is_still_1013(aiohttp_client, make_settings):
    async with _session_before_fragile_pbx(aiohttp_client, make_settings) as (client, ws):
        await ws.send_str(_message(100))
        await asyncio.wait_for(ws.receive(), 5)
        (session,) = client.app[RELAYS]
        session.upstream.transport.abort()  # the PBX's side gone, with nothing outstanding
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013


@pytest.mark.stack
@pytest.mark.parametrize("method", ["MESSAGE", "OPTIONS", "SUBSCRIBE", "NOTIFY", "INFO"])
async def test_an_out_of_dialog_request_of_any_method_claiming_another_user_gets_403(relay, relay_settings, method):
    username = new_username()
    query = session_query(relay_settings.auth_key_secret, username)
    async with relay.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
        await ws.send_str(
            f"{method} sip:{username}@omnisense.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKm\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:1002@omnisense.local>;tag=a\r\nTo: <sip:{username}@omnisense.local>\r\n"
            f"Call-ID: spoof-{method}\r\nCSeq: 3 {method}\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n")
        msg = await asyncio.wait_for(ws.receive(), 5)
        answer = sip.parse(msg.data.encode())
        assert (answer.status, answer.get("call-id"), answer.get("cseq")) == (403, f"spoof-{method}", f"3 {method}")
