"""SIP_UPSTREAM=vicidial against the real stack: each agent's leg goes to the server holding its phone (the
stack's Kamailio and the second one, devstack's kamailio-2), and every refusal reason."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

import devstack.__main__ as devstack_main
from devstack import cluster, demo, mariadb
from service.app import create_app

from .helpers import kamailio_lookup, new_username, registered_agent, session_query, upgrade_headers

pytestmark = pytest.mark.stack


class Cluster:
    """Rows of our own in phones and servers (unique ids), removed when the test ends."""

    def __init__(self, db_config) -> None:
        self.conn = mariadb.connect(db_config, db_config.database)
        self.server_ids: list[str] = []
        self.extensions: list[str] = []

    def server(self, url: str, server_ip: str | None = None) -> str:
        server_id = f"t{secrets.token_hex(4)}"
        server_ip = server_ip or f"127.1.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO servers (server_id, server_ip, active, web_socket_url) VALUES (%s, %s, 'Y', %s)",
                        (server_id, server_ip, url))
        self.server_ids.append(server_id)
        return server_ip

    def phone(self, server_ip: str, extension: str | None = None, active: str = "Y") -> str:
        extension = extension or new_username()
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO phones (extension, server_ip, active, template_id) VALUES (%s, %s, %s, '')",
                        (extension, server_ip, active))
        self.extensions.append(extension)
        return extension

    def close(self) -> None:
        with self.conn.cursor() as cur:
            for extension in self.extensions:
                cur.execute("DELETE FROM phones WHERE extension = %s", (extension,))
            for server_id in self.server_ids:
                cur.execute("DELETE FROM servers WHERE server_id = %s", (server_id,))
        self.conn.close()


@pytest.fixture
def rows(db_config) -> Iterator[Cluster]:
    made = Cluster(db_config)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
async def vicidial(aiohttp_client, make_settings, stack_env):
    # The agent screen's demo phone is on the stack's Asterisk when it runs: trusted as `make run` trusts it.
    env = {**stack_env, "SIP_UPSTREAM": "vicidial"}
    settings = make_settings({**env, **(demo.asterisk_upstream(env) if devstack_main.asterisk_runs() else {})})
    return await aiohttp_client(create_app(settings))




def _secret(client) -> str:
    from service.appkeys import SETTINGS

    return client.app[SETTINGS].auth_key_secret


async def _refusal(client, username: str) -> tuple[int, dict]:
    query = session_query(_secret(client), username)
    response = await client.get(f"/ws?{urlencode(query)}", headers=upgrade_headers())
    return response.status, await response.json()


async def test_agents_are_routed_to_the_server_of_their_phone(vicidial, rows, stack_env):
    first = rows.phone(rows.server(stack_env["SIP_UPSTREAM"]))
    second = rows.phone(rows.server(cluster.URL))
    a, b = (await registered_agent(vicidial, _secret(vicidial), stack_env, first),
            await registered_agent(vicidial, _secret(vicidial), stack_env, second))
    try:
        assert kamailio_lookup(first) and not kamailio_lookup(first, cluster.RUN_DIR)
        assert kamailio_lookup(second, cluster.RUN_DIR) and not kamailio_lookup(second)
    finally:
        await a.close()
        await b.close()


async def test_an_inactive_or_missing_phone_is_unknown(vicidial, rows, stack_env):
    inactive = rows.phone(rows.server(stack_env["SIP_UPSTREAM"]), active="N")
    for username in (inactive, new_username()):
        status, body = await _refusal(vicidial, username)
        assert (status, body["reason"]) == (403, "unknown_phone")


async def test_one_extension_active_on_two_servers_is_ambiguous(vicidial, rows, stack_env):
    extension = rows.phone(rows.server(stack_env["SIP_UPSTREAM"]))
    rows.phone(rows.server(cluster.URL), extension)
    status, body = await _refusal(vicidial, extension)
    assert (status, body["reason"]) == (403, "ambiguous_phone")


async def test_the_extension_is_matched_exactly(vicidial, rows, stack_env):
    """The table's collation ignores case and trailing spaces; a phone is only its exact extension's."""
    server_ip = rows.server(stack_env["SIP_UPSTREAM"])
    extension = rows.phone(server_ip, f"Agent{secrets.token_hex(3)}X")
    spaced = rows.phone(server_ip, f"{new_username()} ")
    for other in (extension.lower(), extension.upper(), spaced.rstrip()):
        status, body = await _refusal(vicidial, other)
        assert (status, body["reason"]) == (403, "unknown_phone"), other
    agent = await registered_agent(vicidial, _secret(vicidial), stack_env, extension)  # the exact one is routed
    await agent.close()


async def test_one_server_ip_with_two_different_urls_is_ambiguous_server(vicidial, rows, stack_env):
    server_ip = rows.server(stack_env["SIP_UPSTREAM"])
    rows.server(cluster.URL, server_ip)
    status, body = await _refusal(vicidial, rows.phone(server_ip))
    assert (status, body["reason"]) == (503, "ambiguous_server")


async def test_a_server_without_a_web_socket_url_or_no_server_row_is_no_upstream(vicidial, rows):
    for server_ip in (rows.server(""), "127.1.255.255"):
        status, body = await _refusal(vicidial, rows.phone(server_ip))
        assert (status, body["reason"]) == (503, "no_upstream")


async def test_an_unreachable_database_is_upstream_lookup_failed(aiohttp_client, make_settings, stack_env):
    settings = make_settings({**stack_env, "SIP_UPSTREAM": "vicidial",
                              "DATABASE_URL": "mysql://nobody:x@127.0.0.1:9/asterisk"})
    client = await aiohttp_client(create_app(settings))
    status, body = await _refusal(client, "1001")
    assert (status, body["reason"]) == (503, "upstream_lookup_failed")
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["sip_upstream"].startswith("ViciDial servers could not be read")


async def test_readyz_checks_each_web_socket_url_in_use(vicidial, rows, stack_env):
    body = await (await vicidial.get("/readyz")).json()
    # The demo phones: the stack's Kamailio, kamailio-2, and the agent screen's (Kamailio's or Asterisk's).
    assert body["checks"]["sip_upstream"] == "ok"
    rows.phone(rows.server("ws://127.0.0.1:9/ws"))
    response = await vicidial.get("/readyz")
    reason = (await response.json())["checks"]["sip_upstream"]
    assert response.status == 503 and reason.startswith("ws://127.0.0.1:9/ws unreachable: connection refused")
