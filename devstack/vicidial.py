"""ViciDial's agent screen, as far as its webphone goes: the URL vicidial.php builds (www/agc/vicidial.php, the
webphone block after an agent's login), the rows a login writes (`vicidial_live_agents`,
`vicidial_session_data`) and the logout that deletes the live row. Used by the demo agent screen
(`agent_screen.py`) and by the tests.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from typing import Any

import pymysql

_OUTSIDE_QUOTES_SPACE = re.compile(r'"[^"]*"|\s+')


def php_base64(text: str) -> str:
    """PHP's base64_encode: standard alphabet, padded; the caller does not URL-encode it (vicidial.php doesn't)."""
    return base64.b64encode(text.encode()).decode("ascii")


def scrub_settings(entry: str) -> str:
    """A settings container as vicidial.php copies it into `SETTINGS`: comment lines dropped, whitespace outside
    double quotes removed, blank lines dropped, each line followed by the two characters backslash and n."""
    out = []
    for line in re.split(r"\r\n|\r|\n", entry):
        if line.startswith("#"):
            continue
        line = _OUTSIDE_QUOTES_SPACE.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", line)
        if line:
            out.append(line + "\\n")
    return "".join(out)


def webphone_options(phone: Mapping[str, Any], *, web_socket_url: str, session_id: str, settings_entry: str) -> str:
    """`options` as vicidial.php builds it from the phone row, its server's WebSocket URL and the login."""
    options = "INITIAL_LOAD"
    options += {"Y": "--DIALPAD_Y", "N": "--DIALPAD_N", "TOGGLE": "--DIALPAD_TOGGLE",
                "TOGGLE_OFF": "--DIALPAD_OFF_TOGGLE"}.get(phone.get("webphone_dialpad") or "Y", "")
    for column, token in (("webphone_auto_answer", "AUTOANSWER"), ("webphone_dialbox", "DIALBOX"),
                          ("webphone_mute", "MUTE"), ("webphone_volume", "VOLUME")):
        value = phone.get(column) or "Y"
        options += f"--{token}_{value}" if value in ("Y", "N") else ""
    if phone.get("webphone_debug") == "Y":
        options += "--DEBUG"
    if len(web_socket_url) > 5:
        options += f"--WEBSOCKETURL{web_socket_url}"
    if phone.get("webphone_layout"):
        options += f"--WEBPHONELAYOUT{phone['webphone_layout']}"
    if session_id:
        options += f"--SESSION{session_id}"
    scrubbed = scrub_settings(settings_entry)
    if scrubbed:
        options += f"--SETTINGS{scrubbed}"
    return options


def webphone_url(base: str, *, extension: str, conf_secret: str, server_ip: str, outbound_cid: str, protocol: str,
                 codecs_list: str, options: str, system_key: str) -> str:
    """The URL exactly as vicidial.php concatenates it: base64 values, not URL-encoded, phone_login twice."""
    codecs = codecs_list.replace(" ", "").replace("-", "").replace("&", "")
    login = php_base64(extension)
    return (f"{base}?phone_login={login}&phone_login={login}&phone_pass={php_base64(conf_secret)}"
            f"&server_ip={php_base64(server_ip)}&callerid={php_base64(outbound_cid)}"
            f"&protocol={php_base64(protocol)}&codecs={php_base64(codecs)}&options={php_base64(options)}"
            f"&system_key={php_base64(system_key)}")


PHONE_COLUMNS = ("extension", "server_ip", "protocol", "conf_secret", "outbound_cid", "codecs_list",
                 "webphone_dialpad", "webphone_auto_answer", "webphone_dialbox", "webphone_mute", "webphone_volume",
                 "webphone_debug", "webphone_layout", "webphone_settings", "use_external_server_ip")


def login(cur: pymysql.cursors.Cursor, *, user: str, extension: str, server_ip: str, conf_exten: str,
          webphone_base: str, campaign_id: str = "DEMO") -> tuple[int, str]:
    """What an agent's login on the agent screen writes for a webphone: its live-agent row and its session
    data with the webphone URL (an earlier login's row deleted first). Returns (live_agent_id, the URL)."""
    cur.execute(f"SELECT {', '.join(PHONE_COLUMNS)} FROM phones WHERE extension = %s AND server_ip = %s",
                (extension, server_ip))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no phone {extension!r} on {server_ip}")
    phone = dict(zip(PHONE_COLUMNS, row, strict=True))
    cur.execute("SELECT web_socket_url, external_web_socket_url, external_server_ip FROM servers"
                " WHERE server_ip = %s LIMIT 1", (server_ip,))
    server = cur.fetchone() or ("", "", "")
    external = phone["use_external_server_ip"] == "Y"
    cur.execute("SELECT container_entry FROM vicidial_settings_containers WHERE container_id = %s",
                (phone["webphone_settings"] or "",))
    entry = cur.fetchone()
    cur.execute("SELECT webphone_systemkey FROM system_settings LIMIT 1")
    key = cur.fetchone()
    options = webphone_options(phone, web_socket_url=(server[1] if external else server[0]) or "",
                               session_id=conf_exten, settings_entry=entry[0] if entry else "")
    url = webphone_url(webphone_base, extension=extension, conf_secret=phone["conf_secret"] or "",
                       server_ip=(server[2] if external else server_ip) or server_ip,
                       outbound_cid=phone["outbound_cid"] or "", protocol=phone["protocol"] or "SIP",
                       codecs_list=phone["codecs_list"] or "", options=options, system_key=key[0] if key else "")
    cur.execute("DELETE FROM vicidial_live_agents WHERE user = %s", (user,))
    cur.execute("INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, extension, status, lead_id,"
                " campaign_id, last_update_time) VALUES (%s, %s, %s, %s, 'PAUSED', 0, %s, NOW())",
                (user, server_ip, conf_exten, f"{phone['protocol'] or 'SIP'}/{extension}", campaign_id))
    live_agent_id = int(cur.lastrowid)
    cur.execute("DELETE FROM vicidial_session_data WHERE user = %s", (user,))
    cur.execute("INSERT INTO vicidial_session_data (session_name, user, campaign_id, server_ip, conf_exten,"
                " extension, login_time, webphone_url) VALUES (%s, %s, %s, %s, %s, %s, NOW(), %s)",
                (f"{secrets.token_hex(8)}_{user}", user, campaign_id, server_ip, conf_exten, extension, url))
    return live_agent_id, url


def touch(cur: pymysql.cursors.Cursor, user: str) -> int:
    """The agent screen's polling: the live row's last_update_time is now. The rows touched."""
    return int(cur.execute("UPDATE vicidial_live_agents SET last_update_time = NOW() WHERE user = %s", (user,)))


def logout(cur: pymysql.cursors.Cursor, user: str) -> int:
    """The agent logs out: the live row goes (the session data stays, as ViciDial leaves it). The rows deleted."""
    return int(cur.execute("DELETE FROM vicidial_live_agents WHERE user = %s", (user,)))
