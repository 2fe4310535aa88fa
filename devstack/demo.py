"""What `make run` prints: two ready webphone URLs (demo agents who can call each other) and a curl."""

from __future__ import annotations

import hashlib
import secrets
import sys
from datetime import UTC, datetime, timedelta

from service.config import load_settings
from service.sip_proxy.links import webphone_url
from tools.sipload.agents import agent_password, agent_secret

from . import agent_screen, baresip, kamailio
from .agent_screen import DemoPbx
from .asterisk import ECHO_NUMBER

DEMO_AGENTS = ("1001", "1002")
DEMO_HOURS = 12


def webphone_urls(env: dict[str, str], base: str) -> list[str]:
    """Launch URLs for the two demo agents, valid for DEMO_HOURS; each can dial the other's number."""
    secret = env["AUTH_KEY_SECRET"]
    expires = (datetime.now(UTC) + timedelta(hours=DEMO_HOURS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    passwords = agent_secret(secret)
    turn_port = load_settings(env).turn_port
    return [
        webphone_url(
            secret=secret, base_url=base, customer_id=1, user_id=int(name), username=name,
            password=agent_password(passwords, name), expire_date=expires,
            turn_port=turn_port,
        )
        for name in DEMO_AGENTS
    ]


def asterisk_upstream(env: dict[str, str]) -> dict[str, str]:
    """The service's settings for the stack's chan_sip Asterisk: its private CA and chain-only checks, which the
    agent screen's demo phone needs too (its server's web_socket_url is Asterisk's wss, whatever SIP_UPSTREAM
    is), and SIP_UPSTREAM itself unless it names something else than the stack's Kamailio. TLS settings of the
    environment's own stand, and so does a wss:// SIP_UPSTREAM of its own (the private CA would distrust it)."""
    from . import asterisk, asterisk_certs

    tls = {"SIP_UPSTREAM_TLS_VERIFY": "chain", "SIP_UPSTREAM_CA_FILE": str(asterisk_certs.paths(asterisk.KEYS_DIR).ca)}
    upstream = env.get("SIP_UPSTREAM", kamailio.DEFAULT_URL).rstrip("/")
    if upstream == kamailio.DEFAULT_URL:
        return {"SIP_UPSTREAM": asterisk.CHAN_SIP.wss_url, **tls}
    if upstream.startswith("wss://") or any(name in env for name in tls):
        return {}
    return tls


def asterisk_cli() -> str:
    """The shell command that runs a CLI command of the stack's chan_sip Asterisk (followed by -rx "...")."""
    from . import asterisk, asterisk_build

    return f"{asterisk_build.binary()} -C {asterisk.CHAN_SIP.conf}"


def announce_asterisk() -> None:
    from . import asterisk

    inst = asterisk.CHAN_SIP
    cli, room = asterisk_cli(), agent_screen.DEMO_ROOM
    print(
        f"\nThe PBX is Asterisk 18 (chan_sip, {inst.wss_url}; log {inst.log_file}). Dial {asterisk.ECHO_NUMBER} for"
        f" the echo, {baresip.PHONE_NUMBER} for the plain SIP phone\n(baresip: it answers, plays a tone and records"
        f" what it hears in {baresip.RECORDINGS}).\n"
        f"Ring agent {DEMO_AGENTS[0]} into conference {room} as ViciDial does (tick Auto-answer on the page first"
        " to have it answer by itself):\n"
        f'  {cli} -rx "channel originate SIP/{DEMO_AGENTS[0]} application ConfBridge {room}"\n'
        f"  (a second agent joins by dialling 2{room}; `{cli} -r` opens Asterisk's console)",
        flush=True,
    )


def announce_agent_screen(vici: DemoPbx, *, asterisk: bool) -> None:
    where = (f"registers with Asterisk and enters ConfBridge room {vici.conference} at 2{vici.conference}" if asterisk
             else f"joins the conference {vici.conference}, answered by the plain phone")
    print(
        f"\nViciDial's agent screen (demo agent {agent_screen.DEMO_USER} logged in on phone"
        f" {agent_screen.DEMO_EXTENSION}; its webphone {where}):\n"
        f"  {agent_screen.ORIGIN}/",
        flush=True,
    )
    if asterisk:
        print(
            f"Bring the plain phone (its tone) into that room (Local/{ECHO_NUMBER}@agents instead: the echo):\n"
            f'  {asterisk_cli()} -rx "channel originate SIP/plainphone/{baresip.PHONE_NUMBER}'
            f' application ConfBridge {vici.conference}"',
            flush=True,
        )
    print(
        "Log the demo agent out of ViciDial (the phone in that screen stops within 45 s):\n"
        f"  {sys.executable} -m devstack vicidial-logout",
        flush=True,
    )


def announce(env: dict[str, str], vici: DemoPbx, *, asterisk: bool = False) -> dict[str, str]:
    """Print the demo's URLs and curl; return the environment the service should run with (its upstream the
    stack's chan_sip Asterisk if `asterisk`). `vici`: the PBX of the agent screen's demo phone."""
    upstream = asterisk_upstream(env) if asterisk else {}
    key = secrets.token_urlsafe(32)
    entry = f"make-run:{hashlib.sha256(key.encode()).hexdigest()}"
    keys = ",".join(k for k in (env.get("ARCHIVE_API_KEYS", ""), entry) if k)
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8080")
    base = f"http://{host}:{port}"
    first, second = webphone_urls(env, base)
    print(
        f"\nWebphone, demo agent {DEMO_AGENTS[0]} (dial {DEMO_AGENTS[1]} to call the other one;"
        f" valid {DEMO_HOURS} hours):\n"
        f"  {first}\n"
        f"Webphone, demo agent {DEMO_AGENTS[1]}:\n"
        f"  {second}",
        flush=True,
    )
    if asterisk:
        announce_asterisk()
    else:
        print(
            f"\nPlain SIP phone (baresip over UDP, media bridged by rtpengine; it answers, plays a tone and records\n"
            f"what it hears in {baresip.RECORDINGS}): dial {baresip.PHONE_NUMBER} from either webphone.\n"
            f"The PBX calling an agent as Asterisk does (To = the agent's Contact), like ViciDial's login call:\n"
            f"  {sys.executable} -m devstack pbx-call {DEMO_AGENTS[0]}",
            flush=True,
        )
    announce_agent_screen(vici, asterisk=asterisk)
    print(
        "\n"
        "Archive API (a key made for this run):\n"
        f"  curl -X POST {base}/vicidial/leads/archive \\\n"
        f"    -H 'Authorization: Key={key}' -H 'Content-Type: application/json' \\\n"
        "    -d '{\"insert_leads\": true, \"update_leads\": true, \"delete_leads\": true, \"lead_ids\": [1, 2]}'\n"
        "Dearchive API (the same key; brings leads 1 and 2 back):\n"
        f"  curl -X POST {base}/vicidial/leads/dearchive \\\n"
        f"    -H 'Authorization: Key={key}' -H 'Content-Type: application/json' \\\n"
        "    -d '{\"insert_leads\": true, \"delete_leads\": true, \"lead_ids\": [1, 2]}'\n",
        flush=True,
    )
    origins = ",".join(o for o in (env.get("ALLOWED_ORIGINS", ""), agent_screen.ORIGIN) if o)
    return {"ARCHIVE_API_KEYS": keys, "VICIDIAL_WEBPHONE": "on", "ALLOWED_ORIGINS": origins, **upstream}
