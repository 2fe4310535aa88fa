"""Fixtures for the tests against the stack's Asterisk 18 (devstack/asterisk.py): chan_sip and PJSIP, reached over
wss with the private CA and chain-only checks, the webphone in Chromium (tests/webphone/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from devstack import asterisk, asterisk_build, asterisk_certs
from service.app import create_app
from service.config import Settings
from tests.webphone.conftest import (  # noqa: F401 - fixtures used by the tests here
    Service,
    ServiceProcess,
    browser,
    firefox,
    open_page,
    open_phone,
    webphone_settings,
)
from tests.webphone.test_vicidial import (  # noqa: F401 - fixtures of ViciDial's agent screen, used here too
    gateway,
    open_screen,
    screens,
)
from tools.sipload import agents

PBXES = {"chan_sip": asterisk.CHAN_SIP, "pjsip": asterisk.PJSIP}


POOL_SLICES = 4
"""The pool is cut in this many slices: one per pytest-xdist worker (gw0, gw1, gw2), the last for a run without
workers (`make test` runs its `alone` tests so, after the workers' run): no two ever take the same agent."""


def pool_slice(worker: str | None) -> int:
    """The slice of `PYTEST_XDIST_WORKER` (gw0, gw1, ...; None without workers)."""
    if worker is None:
        return POOL_SLICES - 1
    return int(worker.removeprefix("gw")) % (POOL_SLICES - 1)


class AgentPool:
    """Usernames of agents configured in Asterisk, never the same twice in a test run (an agent's registration
    outlives its test in Asterisk until it expires)."""

    def __init__(self, worker: str | None) -> None:
        self.left = list(asterisk.TEST_AGENTS[pool_slice(worker)::POOL_SLICES])
        random.shuffle(self.left)

    def __call__(self) -> str:
        if not self.left:
            raise RuntimeError(f"all {len(asterisk.TEST_AGENTS) // POOL_SLICES} test agents of this worker are used")
        return self.left.pop()


POOL = AgentPool(os.environ.get("PYTEST_XDIST_WORKER"))


@dataclasses.dataclass
class Pbx:
    """One Asterisk instance of the stack: its CLI, its log and how the gateway reaches it."""

    inst: asterisk.Instance

    @property
    def name(self) -> str:
        return "chan_sip" if self.inst.driver == "sip" else "pjsip"

    def upstream_env(self) -> dict[str, str]:
        return {"SIP_UPSTREAM": self.inst.wss_url, "SIP_UPSTREAM_TLS_VERIFY": "chain",
                "SIP_UPSTREAM_CA_FILE": str(asterisk_certs.paths(asterisk.KEYS_DIR).ca)}

    def settings(self, base: Settings) -> Settings:
        env = self.upstream_env()
        return dataclasses.replace(base, sip_upstream=env["SIP_UPSTREAM"], sip_upstream_tls_verify="chain",
                                   sip_upstream_ca_file=env["SIP_UPSTREAM_CA_FILE"])

    async def cli(self, command: str) -> str:
        return await asyncio.to_thread(asterisk.cli, self.inst, command)

    def channel(self, username: str) -> str:
        return f"{self.inst.tech}/{username}"

    async def registered(self, username: str) -> bool:
        if self.inst.driver == "sip":
            return "Addr->IP     : (null)" not in await self.cli(f"sip show peer {username}") and \
                "Reg. Contact : sip:" in await self.cli(f"sip show peer {username}")
        return "Contact:  " in await self.cli(f"pjsip show aor {username}")

    async def channels(self) -> list[str]:
        """The names of Asterisk's channels now."""
        out = await self.cli("core show channels concise")
        return [line.split("!")[0] for line in out.splitlines() if "!" in line]

    async def originate(self, username: str, application: str, data: str) -> None:
        await self.cli(f"channel originate {self.channel(username)} application {application} {data}")

    async def hang_up(self, username: str) -> None:
        """Asterisk hangs up every channel of agent USERNAME."""
        for name in await self.channels():
            if name.startswith(self.channel(username) + "-"):
                await self.cli(f"channel request hangup {name}")

    def log_mark(self) -> int:
        return self.inst.log_file.stat().st_size if self.inst.log_file.exists() else 0

    def log_since(self, mark: int) -> str:
        with open(self.inst.log_file, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")


@pytest.fixture(scope="session")
def asterisk_stack(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack with its Asterisk instances fully booted; skips (saying why) when the sources are missing."""
    reason = asterisk_build.missing_reason()
    if reason is not None:
        pytest.skip(f"{reason}: the stack runs no Asterisk")
    for inst in asterisk.INSTANCES:
        asterisk.wait_fully_booted(inst)
    return stack_env


@pytest.fixture(params=list(PBXES))
def pbx(request, asterisk_stack) -> Pbx:
    """Each Asterisk in turn: chan_sip (ViciDial's webphone template) and PJSIP (`webrtc=yes`)."""
    return Pbx(PBXES[request.param])


@pytest.fixture
async def pbx_service(pbx: Pbx, asterisk_stack: dict[str, str], make_settings) -> AsyncIterator[Service]:
    """The app in this process with SIP_UPSTREAM the Asterisk of `pbx` (media through coturn only)."""
    settings = pbx.settings(make_settings(asterisk_stack, ice_transport_policy="relay"))
    server = TestServer(create_app(settings), host="127.0.0.1", port=None)
    await server.start_server()
    try:
        yield Service(settings, settings.turn_port, agents.agent_secret(asterisk_stack["AUTH_KEY_SECRET"]),
                      server=server, new_username=POOL)
    finally:
        await server.close()


@pytest.fixture
async def pbx_service_process(pbx: Pbx, asterisk_stack: dict[str, str]) -> AsyncIterator[ServiceProcess]:
    """The service as a process of its own in front of the Asterisk of `pbx`, so it can be killed."""
    service = ServiceProcess(asterisk_stack, env=pbx.upstream_env(), usernames=POOL)
    await service.start()
    try:
        yield service
    finally:
        await service.kill()
