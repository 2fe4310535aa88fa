"""A two-server ViciDial cluster for SIP_UPSTREAM=vicidial: a second Kamailio, and the demo agents' phones
spread over the two servers in `phones` and `servers`; beside them the server and phone of the agent screen's
demo agent (devstack/agent_screen.py)."""

from __future__ import annotations

import contextlib

import pymysql

from service.config import DatabaseConfig
from tools.sipload.agents import agent_password, agent_secret

from . import agent_screen, kamailio, mariadb, procs
from .demo import DEMO_AGENTS
from .paths import short_run_dir

NAME = "kamailio-2"
HOST = "127.0.0.1"
PORT = 8090
URL = f"ws://{HOST}:{PORT}"
RUN_DIR = short_run_dir(NAME)
# (server_id, server_ip, web_socket_url or None for the stack's own Kamailio); demo agent i is on server i.
SERVERS = (("omni1", "127.0.0.1", None), ("omni2", "127.0.0.2", URL))


def start(env: dict[str, str]) -> bool:
    if procs.port_open(HOST, PORT):
        return False
    kamailio.ensure_installed()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    procs.spawn(NAME, kamailio.command(HOST, PORT, agent_secret(env["AUTH_KEY_SECRET"]), run_dir=RUN_DIR, shm_mb=256))
    procs.wait_for_port(HOST, PORT, NAME)
    return True


def stop() -> bool:
    return procs.stop(NAME)


def servers(env: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(sid, ip, url or kamailio.local_url(env)) for sid, ip, url in SERVERS]


def ensure_demo_rows(db: DatabaseConfig, env: dict[str, str], vici: agent_screen.DemoPbx) -> None:
    """The demo servers (their URLs kept current) and one active phone per demo agent, on alternate servers; the
    agent screen's demo phone on a server of its own, at `vici`'s PBX."""
    rows = servers(env)
    with mariadb.connect(db, db.database) as conn, conn.cursor() as cur:
        for server_id, server_ip, url in rows:
            cur.execute(
                "INSERT INTO servers (server_id, server_description, server_ip, active, web_socket_url)"
                " VALUES (%s, %s, %s, 'Y', %s) ON DUPLICATE KEY UPDATE server_ip = VALUES(server_ip),"
                " web_socket_url = VALUES(web_socket_url)",
                (server_id, f"OmniSense demo telephony server {server_id}", server_ip, url))
        cur.execute(
            "INSERT INTO servers (server_id, server_description, server_ip, active, web_socket_url, conf_engine)"
            " VALUES (%s, 'OmniSense demo ViciDial agent screen', %s, 'Y', %s, %s) ON DUPLICATE KEY UPDATE"
            " server_ip = VALUES(server_ip), web_socket_url = VALUES(web_socket_url),"
            " conf_engine = VALUES(conf_engine)",
            (agent_screen.DEMO_SERVER_ID, agent_screen.DEMO_SERVER_IP, vici.web_socket_url, vici.conf_engine))
        phones = [(extension, rows[i % len(rows)][1]) for i, extension in enumerate(DEMO_AGENTS)]
        for extension, server_ip in [*phones, (agent_screen.DEMO_EXTENSION, agent_screen.DEMO_SERVER_IP)]:
            # Already there: the unique extension/server_ip pair.
            with contextlib.suppress(pymysql.err.IntegrityError):
                cur.execute(
                    "INSERT INTO phones (extension, dialplan_number, server_ip, login, pass, status, active,"
                    " phone_type, fullname, protocol, template_id, is_webphone)"
                    " VALUES (%s, %s, %s, %s, '', 'ACTIVE', 'Y', 'webphone', %s, 'SIP', '', 'Y')",
                    (extension, extension, server_ip, extension, f"Demo agent {extension}"))
            # The SIP secret ViciDial hands its webphone (conf_secret): the one the stack's Kamailio and Asterisk
            # expect.
            cur.execute("UPDATE phones SET conf_secret = %s WHERE extension = %s AND server_ip = %s",
                        (agent_password(agent_secret(env["AUTH_KEY_SECRET"]), extension), extension, server_ip))
