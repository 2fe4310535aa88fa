"""`python -m service loadtest` (or `python -m tools.sipload`): N simulated agents through the relay.

Each agent opens its own WebSocket (with an auth_key minted from AUTH_KEY_SECRET), registers with digest
auth, and agents call each other in pairs: INVITE (answering the 407), 180, 200, ACK, a short hold, BYE.
The SDP is real, from aiortc, but made once (one offer, one answer) and reused for every call: creating a
peer connection per call would cost more CPU than the signalling being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from service.runtime import settings_or_exit, use_uvloop
from service.sip_proxy.links import session_query

from . import agents
from .ua import Agent, SipError


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (nearest-rank), 0 for no samples."""
    if not samples:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    return {"p50": round(rank(50), 2), "p95": round(rank(95), 2), "p99": round(rank(99), 2),
            "max": round(ordered[-1] * 1000, 2)}


class LoadTest:
    def __init__(self, args: argparse.Namespace, secret: str, url: str, out_json: bool) -> None:
        self.args = args
        self.secret = secret
        self.url = url
        self.out_json = out_json
        self.password_secret = args.agent_secret or agents.agent_secret(secret)
        self.agents: list[Agent | None] = [None] * args.agents
        self.register_s: list[float] = []
        self.setup_s: list[float] = []
        self.errors: Counter[str] = Counter()
        self.calls_attempted = 0
        self.calls_completed = 0
        self.started = 0.0

    def error(self, exc: BaseException) -> None:
        if isinstance(exc, SipError):
            key = str(exc.status) if exc.status else exc.reason
        elif isinstance(exc, (aiohttp.ClientError, OSError)):
            key = "connect"
        else:
            key = type(exc).__name__
        self.errors[key] += 1

    def messages(self) -> int:
        return sum(a.messages_sent + a.messages_received for a in self.agents if a is not None)

    async def open_agent(self, http: aiohttp.ClientSession, index: int, expire_date: str,
                         gate: asyncio.Semaphore) -> None:
        username = str(self.args.first_user + index)
        query = session_query(self.secret, customer_id=self.args.customer_id, user_id=int(username),
                              username=username, expire_date=expire_date)
        async with gate:
            try:
                ws = await http.ws_connect(f"{self.url}?{urlencode(query)}", protocols=("sip",), compress=0)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                self.error(exc)
                return
            agent = Agent(ws, username, agents.agent_password(self.password_secret, username))
            agent.start()
            self.agents[index] = agent
            try:
                self.register_s.append(await agent.register())
            except (SipError, aiohttp.ClientError, OSError) as exc:  # a socket closing under a send, too
                self.error(exc)

    async def caller(self, caller: Agent, callee: Agent, offer: bytes, deadline: float) -> None:
        while time.monotonic() < deadline and not caller.closed.is_set():
            self.calls_attempted += 1
            try:
                dialog, took = await caller.invite(callee.username, offer)
                self.setup_s.append(took)
                await asyncio.sleep(self.args.hold)
                await caller.bye(dialog)
                self.calls_completed += 1
            except SipError as exc:
                self.error(exc)
                await asyncio.sleep(0.2)
            except (aiohttp.ClientError, OSError) as exc:  # the socket closed under a send: this caller is done
                self.error(exc)
                return

    async def progress(self, phase: list[str]) -> None:
        last_messages, last = 0, time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            messages = self.messages()
            rate = (messages - last_messages) / (now - last)
            last_messages, last = messages, now
            line = (f"[{now - self.started:5.0f}s] {phase[0]:<8} registered {len(self.register_s)}/{self.args.agents}  "
                    f"calls {self.calls_completed}/{self.calls_attempted}  errors {sum(self.errors.values())}  "
                    f"{rate:,.0f} msg/s")
            print(f"\r{line}", end="", file=sys.stderr, flush=True)

    async def run(self) -> dict[str, Any]:
        args = self.args
        offer, answer = await make_sdp()
        expire = datetime.now(UTC) + timedelta(seconds=args.duration + 600)
        expire_date = expire.strftime("%Y-%m-%dT%H:%M:%SZ")
        phase = ["register"]
        self.started = time.monotonic()
        ticker = asyncio.create_task(self.progress(phase))
        connector = aiohttp.TCPConnector(limit=0)
        try:
            async with aiohttp.ClientSession(connector=connector) as http:
                gate = asyncio.Semaphore(args.connect_concurrency)
                await asyncio.gather(*(self.open_agent(http, i, expire_date, gate) for i in range(args.agents)))

                async def answer_sdp(_offer: bytes) -> bytes:
                    return answer

                phase[0] = "calling"
                deadline = time.monotonic() + args.duration
                calls = []
                for i in range(0, args.agents - 1, 2):
                    a, b = self.agents[i], self.agents[i + 1]
                    if a is None or b is None:
                        continue
                    b.answer_sdp = answer_sdp
                    calls.append(self.caller(a, b, offer, deadline))
                await asyncio.gather(*calls)
                phase[0] = "closing"
                elapsed = time.monotonic() - self.started
                messages = self.messages()
                await asyncio.gather(*(a.close() for a in self.agents if a is not None), return_exceptions=True)
        finally:
            ticker.cancel()
            print(file=sys.stderr)
        return {
            "agents": args.agents,
            "registered": len(self.register_s),
            "calls_attempted": self.calls_attempted,
            "calls_completed": self.calls_completed,
            "errors": sum(self.errors.values()),
            "errors_by_status": dict(sorted(self.errors.items())),
            "register_ms": percentiles(self.register_s),
            "call_setup_ms": percentiles(self.setup_s),
            "messages_per_s": round(messages / elapsed, 1) if elapsed else 0.0,
            "messages": messages,
            "elapsed_s": round(elapsed, 2),
            "url": self.url,
        }


async def make_sdp() -> tuple[bytes, bytes]:
    """One real offer and its answer from aiortc (audio, no ICE servers: signalling only)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    caller = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    callee = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        caller.addTransceiver("audio", direction="sendrecv")
        await caller.setLocalDescription(await caller.createOffer())
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        return caller.localDescription.sdp.encode(), callee.localDescription.sdp.encode()
    finally:
        await caller.close()
        await callee.close()


def report(result: dict[str, Any]) -> str:
    reg, call = result["register_ms"], result["call_setup_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in result["errors_by_status"].items()) or "none"
    return "\n".join([
        f"agents {result['agents']}, registered {result['registered']}",
        f"calls completed {result['calls_completed']} of {result['calls_attempted']} attempted",
        f"register ms     p50 {reg['p50']:8.2f}  p95 {reg['p95']:8.2f}  p99 {reg['p99']:8.2f}  max {reg['max']:8.2f}",
        f"call set-up ms  p50 {call['p50']:8.2f}  p95 {call['p95']:8.2f}  p99 {call['p99']:8.2f}"
        f"  max {call['max']:8.2f}",
        f"errors by status: {errors}",
        f"messages/s {result['messages_per_s']:,.1f} ({result['messages']} SIP messages in {result['elapsed_s']} s)",
    ])


def run_loadtest(args: argparse.Namespace) -> int:
    if args.agents < 1 or args.duration < 0:
        print("loadtest: --agents must be at least 1 and --duration not negative", file=sys.stderr)
        return 2
    settings = settings_or_exit()
    url = args.url or f"{'wss' if settings.tls else 'ws'}://{settings.host}:{settings.port}/ws"
    use_uvloop()
    result = asyncio.run(LoadTest(args, settings.auth_key_secret, url, args.json).run())
    print(report(result))
    if args.json:
        print(json.dumps(result))
    ok = result["errors"] == 0 and result["registered"] == result["agents"]
    return 0 if ok else 1
