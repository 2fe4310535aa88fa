"""Webphone: page load to registered, and dial to connected with media through TURN only, in Chromium.

`python -m bench webphone`, or `make bench`. The real service runs in this process on a free port with
ICE_TRANSPORT_POLICY=relay, in front of the local stack's Kamailio and coturn. Times come from the page's own
User Timing marks (`webphone:registered`, `webphone:dial`, `webphone:connected`), so Playwright's overhead is
not counted: "registered" is measured from the start of navigation, "connected" from the Call click to the
caller receiving the answer (the callee auto-answers, so no human delay, but its ICE gathering is included).

"refreshed after a restart": a call between two pages on a second service, `python -m service serve` in a
process of its own (in front of a Kamailio of its own, with the stack's config), which is SIGKILLed and started
again mid-call; measured from the new process answering
/healthz to the later of the two pages' `refreshed` events (the re-INVITE over the new connection answered),
both clocks this machine's wall clock. It includes the watchdog's back-off left to run and the caller's 1 s wait
before its re-INVITE (to avoid crossing the callee's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web
from playwright.async_api import Page, async_playwright

from devstack import __main__ as devstack, chromium, kamailio, procs
from devstack.paths import short_run_dir
from service.app import create_app
from service.config import load_settings
from service.sip_proxy.links import webphone_url
from tools.sipload import agents

CHROMIUM, CHROMIUM_ARGS = chromium.EXECUTABLE, chromium.ARGS
LOADS = 10
CALLS = 15
TARGET_REGISTERED_MS = 1000
TARGET_CONNECTED_MS = 1500
RESTARTS = 8
TARGET_REFRESHED_MS = 3000


async def _serve(env: dict[str, str], port: int) -> tuple[subprocess.Popen, float]:
    """Start `python -m service serve` on `port`; returns it and the wall-clock ms when it answered /healthz."""
    import aiohttp

    proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, "-m", "service", "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return proc, time.time() * 1000
            except aiohttp.ClientError:
                await asyncio.sleep(0.02)
    raise RuntimeError("the service did not start")


async def _state(page: Page, state: str) -> None:
    await page.wait_for_function("s => document.body.dataset.phoneState === s", arg=state, timeout=20_000)


async def _mark(page: Page, name: str) -> float:
    return await page.evaluate("n => performance.getEntriesByName(n).at(-1).startTime", name)


def _row(name: str, values: list[float], target: float) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    verdict = "ok" if statistics.median(values) < target else "OVER TARGET"
    return (f"{name:<30} {len(values):>4} {statistics.median(values):>9.0f} {p95:>9.0f} {values[0]:>9.0f} "
            f"{values[-1]:>9.0f} {target:>9.0f}  {verdict}")


async def main() -> dict:
    env = devstack.up()
    settings = dataclasses.replace(load_settings(env), ice_transport_policy="relay")
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]  # the port the OS picked
    base = f"http://127.0.0.1:{port}"
    secret = agents.agent_secret(env["AUTH_KEY_SECRET"])
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def url(username: str) -> str:
        return webphone_url(secret=settings.auth_key_secret, base_url=base, customer_id=1, user_id=int(username),
                            username=username, password=agents.agent_password(secret, username),
                            expire_date=expires, turn_port=settings.turn_port)

    registered: list[float] = []
    connected: list[float] = []
    refreshed: list[float] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # Page load to registered: a fresh tab (and context) each time, as an agent opening the link.
                for i in range(LOADS):
                    context = await browser.new_context()
                    page = await context.new_page()
                    await page.goto(url(str(890000 + i)))
                    await _state(page, "registered")
                    registered.append(await _mark(page, "webphone:registered"))
                    await context.close()

                # Dial to connected: A calls B (auto-answer), both through coturn relays only.
                caller, callee = (await browser.new_context(), await browser.new_context())
                a, b = await caller.new_page(), await callee.new_page()
                await a.goto(url("891001"))
                await b.goto(url("891002"))
                await _state(a, "registered")
                await _state(b, "registered")
                await b.click("details#settings summary")
                await b.check("#auto-answer")
                for _ in range(CALLS):
                    await a.fill("#number", "891002")
                    await a.click("#call-button")
                    await _state(a, "in-call")
                    connected.append(await _mark(a, "webphone:connected") - await _mark(a, "webphone:dial"))
                    # Media checks finish just after the answer: wait for the selected pair, then insist on TURN.
                    await a.wait_for_function("async () => (await OmniSense.phone.stats())?.localCandidateType",
                                              timeout=10_000)
                    pair = await a.evaluate("OmniSense.phone.stats()")
                    if pair["localCandidateType"] != "relay":
                        raise RuntimeError(f"the call did not go through TURN: {pair}")
                    await a.click("#hangup-button")
                    await _state(a, "registered")
                    await _state(b, "registered")
                await caller.close()
                await callee.close()
                refreshed.extend(await _restarts(browser, env, settings, secret, expires))
            finally:
                await browser.close()
    finally:
        await runner.cleanup()

    print(f"Chromium {CHROMIUM}, service on {base}, ICE_TRANSPORT_POLICY=relay (coturn), Kamailio upstream")
    print(f"{'measure (ms)':<30} {'n':>4} {'median':>9} {'p95':>9} {'min':>9} {'max':>9} {'target':>9}")
    print(_row("page load -> registered", registered, TARGET_REGISTERED_MS))
    print(_row("dial -> connected (TURN)", connected, TARGET_CONNECTED_MS))
    print(_row("restart -> call refreshed", refreshed, TARGET_REFRESHED_MS))
    return {"page_load_to_registered_ms": _stats(registered, TARGET_REGISTERED_MS),
            "dial_to_connected_ms": _stats(connected, TARGET_CONNECTED_MS),
            "restart_to_call_refreshed_ms": _stats(refreshed, TARGET_REFRESHED_MS)}


async def _restarts(browser, env: dict[str, str], settings, secret: str, expires: str) -> list[float]:
    """A call on a service process of its own, which is SIGKILLed and restarted RESTARTS times."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        sip_port = int(s.getsockname()[1])
    run_dir = short_run_dir(f"kamailio-{sip_port}")
    run_dir.mkdir(parents=True, exist_ok=True)
    sip = await asyncio.to_thread(
        subprocess.Popen, kamailio.command("127.0.0.1", sip_port, secret, run_dir=run_dir, shm_mb=64),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if procs.port_open("127.0.0.1", sip_port):
            break
        await asyncio.sleep(0.1)
    proc_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port), "ICE_TRANSPORT_POLICY": "relay",
                "TURN_CLI": "", "SIP_UPSTREAM": f"ws://127.0.0.1:{sip_port}"}
    base = f"http://127.0.0.1:{port}"

    def url(username: str) -> str:
        return webphone_url(secret=settings.auth_key_secret, base_url=base, customer_id=1, user_id=int(username),
                            username=username, password=agents.agent_password(secret, username),
                            expire_date=expires, turn_port=settings.turn_port)

    proc, _ = await _serve(proc_env, port)
    times: list[float] = []
    try:
        a = await (await browser.new_context()).new_page()
        b = await (await browser.new_context()).new_page()
        await a.goto(url("892001"))
        await b.goto(url("892002"))
        await _state(a, "registered")
        await _state(b, "registered")
        await a.fill("#number", "892002")
        await a.click("#call-button")
        await _state(b, "ringing")
        await b.click("#answer-button")
        await _state(a, "in-call")
        for page in (a, b):
            await page.evaluate("""() => OmniSense.phone.addEventListener('refreshed',
                (e) => { window.__refreshedAt = e.detail.outcome === 'refreshed' ? Date.now() : -1; })""")
        for _ in range(RESTARTS):
            for page in (a, b):
                await page.evaluate("window.__refreshedAt = null")
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            for page in (a, b):
                await page.wait_for_function("() => document.body.dataset.link === 'down'", timeout=20_000)
            proc, up_at = await _serve(proc_env, port)
            done = []
            for page in (a, b):
                await page.wait_for_function("() => window.__refreshedAt", timeout=30_000)
                done.append(await page.evaluate("window.__refreshedAt"))
            if min(done) < 0 or await a.evaluate("document.body.dataset.phoneState") != "in-call":
                raise RuntimeError("the call did not survive the restart")
            times.append(max(done) - up_at)
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        sip.terminate()
        await asyncio.to_thread(sip.wait)
    return times


def _stats(values: list[float], target: float) -> dict:
    values = sorted(values)
    return {"n": len(values), "median": round(statistics.median(values), 1),
            "p95": round(values[min(len(values) - 1, round(0.95 * (len(values) - 1)))], 1),
            "min": round(values[0], 1), "max": round(values[-1], 1), "target": target}
