"""Calls across two hosts behind deploy/haproxy's configuration: one host killed, then both restarted in turn.

Two service processes (host1, host2) on ports of their own, before one Kamailio of the test's own, with HAProxy
on loopback in front (tests/deploy/balancer.py); the pages are loaded from HAProxy and reach `/ws` through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from devstack import install
from devstack.__main__ import DEPLOY_TOOLS
from tests.deploy.balancer import Balancer, active_sessions, balancer, free_ports
from tests.own_kamailio import OwnKamailio

from .conftest import OpenPhone, PhonePage, ServiceProcess, growth, hang_up_reaches, until
from .test_reconnect import call_between

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@dataclass
class Hosts:
    front: Balancer
    hosts: dict[str, ServiceProcess]

    def url(self) -> str:
        return self.hosts["host1"].url(debug_html=True, base=self.front.base)

    async def busiest(self) -> str:
        """The host holding the most relay sessions now."""
        counts = {name: await active_sessions(host.port) for name, host in self.hosts.items()}
        return max(counts, key=lambda name: counts[name])


@pytest.fixture
async def two_hosts(stack_env: dict[str, str], own_kamailio: OwnKamailio,
                    tmp_path) -> AsyncIterator[Hosts]:
    await asyncio.to_thread(install.ensure_packages, DEPLOY_TOOLS)  # haproxy (`make test` installs it first)
    port, *ports = free_ports(3)
    hosts = {name: ServiceProcess(stack_env, upstream=own_kamailio.url, port=p,
                                  env={"TRUSTED_PROXIES": "127.0.0.1,::1"})
             for name, p in zip(("host1", "host2"), ports, strict=True)}
    try:
        for host in hosts.values():
            await host.start()
        with balancer(tmp_path, port, (ports[0], ports[1])) as front:
            await front.wait_states({"host1": "UP", "host2": "UP"})
            yield Hosts(front, hosts)
    finally:
        for host in hosts.values():
            await host.kill()


LINK_LOG = """() => ({ up: document.body.dataset.link === 'up',
    downs: window.__links.filter((up) => !up).length, refreshed: window.__refreshed })"""


async def settled(p: PhonePage, timeout: float = 15) -> dict:
    """Once the page's link is up and it has refreshed its call once after each loss of the link."""
    return await until(lambda: p.page.evaluate(LINK_LOG),
                       lambda s: s["up"] and s["refreshed"] == ["refreshed"] * s["downs"],
                       "the call refreshed after each loss of the link", timeout=timeout)


async def downs(*pages: PhonePage) -> int:
    """How many times these pages lost their link in all."""
    return sum([(await p.page.evaluate(LINK_LOG))["downs"] for p in pages])


async def still_in_call(p: PhonePage) -> None:
    assert await p.page.evaluate("window.__states.filter(s => s !== 'in-call')") == []
    assert await p.state() == "in-call"
    assert await growth(p, "packetsReceived", 1.0) > 20


async def test_a_host_killed_mid_call_its_agents_come_back_through_the_other(two_hosts: Hosts,
                                                                             open_phone: OpenPhone) -> None:
    a = await open_phone(two_hosts.url())
    b = await open_phone(two_hosts.url())
    await call_between(a, b)
    victim = await two_hosts.busiest()
    [survivor] = set(two_hosts.hosts) - {victim}
    moved = await active_sessions(two_hosts.hosts[victim].port)
    assert moved >= 1
    killed_at = asyncio.get_running_loop().time()
    await two_hosts.hosts[victim].kill()
    # Within 10 s of the kill, every page is registered again through the survivor, its call refreshed.
    for p in (a, b):
        left = 10 - (asyncio.get_running_loop().time() - killed_at)
        assert (await settled(p, timeout=left))["downs"] <= 1
    assert await active_sessions(two_hosts.hosts[survivor].port) == 2
    assert await downs(a, b) == moved  # exactly the victim's pages lost their link
    for p in (a, b):
        await still_in_call(p)
    await hang_up_reaches(b, a)


async def test_a_rolling_restart_of_both_hosts_loses_no_call(two_hosts: Hosts, open_phone: OpenPhone) -> None:
    a = await open_phone(two_hosts.url())
    b = await open_phone(two_hosts.url())
    await call_between(a, b)
    for name in ("host1", "host2"):
        host = two_hosts.hosts[name]
        [old] = host.procs
        leaving = await active_sessions(host.port)
        expected = await downs(a, b) + leaving
        await host.terminate(old)  # drains: its sessions close with 1001, the pages go to the other host
        await until(lambda: downs(a, b), expected.__eq__, f"{leaving} pages losing their link")
        for p in (a, b):
            await settled(p)
        await host.start()
        await two_hosts.front.wait_states({name: "UP"})
    # The second restart moved every page at least once (whichever host it started on), and no call was lost.
    for p in (a, b):
        assert (await settled(p))["downs"] >= 1
        await still_in_call(p)
    await hang_up_reaches(a, b)
