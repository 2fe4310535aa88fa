"""Agents that come back after a lost connection the way the webphone page does, for the load tester.

The page's watchdog (static/js/watchdog.js) waits `backoffDelay(n)` before its n-th attempt since the last
success: 0.5 s doubling to 30 s, each with +-20 % jitter; an attempt fetches TURN credentials (which checks
the session), opens the WebSocket and registers, and any failure schedules the next attempt. `page_delay`
is that schedule (the webphone tests check it against the page's own function); `no_delay` is the schedule of
a client that retries at once, for comparison.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from urllib.parse import urlencode

import aiohttp

from .ua import Agent, SipError

Schedule = Callable[[int], float]


def page_delay(attempt: int, rand: Callable[[], float] = random.random, *, base: float = 0.5, cap: float = 30.0,
               jitter: float = 0.2) -> float:
    """Seconds before attempt `attempt` (0-based), as watchdog.js's backoffDelay (which rounds to whole ms)."""
    raw = min(cap, base * 2.0 ** min(attempt, 30))
    return float(round(raw * 1000 * (1 - jitter + 2 * jitter * rand())) / 1000)


def no_delay(attempt: int) -> float:
    return 0.0


SCHEDULES: dict[str, Schedule] = {"page": page_delay, "none": no_delay}


class ReconnectingAgent:
    """One page: connects and registers, and after every loss tries again on `schedule` until it is registered.

    `registered` is set while registered; `registered_at` is the monotonic time of the last registration and
    `attempts` counts every attempt made (the first connection included).
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str, query: dict[str, str], password: str,
                 schedule: Schedule, turn_port: int = 3478, timeout: float = 30.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.query = query
        self.username = query["username"]
        self.password = password
        self.schedule = schedule
        self.turn_port = turn_port
        self.timeout = timeout
        self.agent: Agent | None = None
        self.registered = asyncio.Event()
        self.registered_at = 0.0
        self.lost_at = 0.0
        self.attempts = 0
        self.failures: dict[str, int] = {}
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._registration = asyncio.Condition()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.agent is not None:
            await self.agent.close()

    async def registered_after(self, moment: float) -> float:
        """Wait until registered by a registration later than `moment` (monotonic); return its time."""
        async with self._registration:
            await self._registration.wait_for(lambda: self.registered.is_set() and self.registered_at > moment)
        return self.registered_at

    async def _attempt(self) -> Agent:
        """The page's connect(): TURN credentials first, then the WebSocket and REGISTER."""
        query = urlencode(self.query)
        turn_url = f"{self.base_url}/webphone/turn-credentials?{query}&turn_port={self.turn_port}"
        async with self.http.get(turn_url) as resp:
            if resp.status != 200:
                raise SipError(resp.status, "turn-credentials refused")
            await resp.read()
        ws_url = self.base_url.replace("http", "ws", 1)
        ws = await self.http.ws_connect(f"{ws_url}/ws?{query}", protocols=("sip",), compress=0)
        agent = Agent(ws, self.username, self.password, timeout=self.timeout)
        agent.start()
        try:
            await agent.register()
        except BaseException:
            await agent.close()
            raise
        return agent

    async def _run(self) -> None:
        failures = 0
        while not self._stopped:
            if self.attempts:
                await asyncio.sleep(self.schedule(failures))
                failures += 1
            self.attempts += 1
            try:
                agent = await self._attempt()
            except (TimeoutError, SipError, aiohttp.ClientError, OSError) as exc:
                key = type(exc).__name__ if not isinstance(exc, SipError) else f"sip {exc.status}"
                self.failures[key] = self.failures.get(key, 0) + 1
                if isinstance(exc, SipError) and exc.status in (401, 403):
                    return  # the page gives up on a refused session, as here
                continue
            failures = 0
            self.agent = agent
            self.registered_at = time.monotonic()
            self.registered.set()
            async with self._registration:
                self._registration.notify_all()
            await agent.closed.wait()
            self.registered.clear()
            self.lost_at = time.monotonic()
