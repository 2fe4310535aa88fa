"""ViciDial rows of a test's own (a server, a webphone, an agent's login) in the stack's database, removed after
(the `vici_rows` fixture, tests/conftest.py)."""

from __future__ import annotations

import secrets

import pymysql

from devstack import mariadb, vicidial
from service.config import DatabaseConfig
from tools.sipload import agents


class ViciDialRows:
    """Rows of our own in servers, phones, vicidial_live_agents and vicidial_session_data."""

    def __init__(self, db_config: DatabaseConfig, auth_key_secret: str) -> None:
        self.conn = mariadb.connect(db_config, db_config.database)
        self.passwords = agents.agent_secret(auth_key_secret)
        self.server_ids: list[str] = []
        self.phones: list[tuple[str, str]] = []
        self.users: list[str] = []

    def cursor(self) -> pymysql.cursors.Cursor:
        return self.conn.cursor()

    def server(self, url: str, conf_engine: str = "MEETME") -> str:
        server_id = f"t{secrets.token_hex(4)}"
        server_ip = f"127.2.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        with self.cursor() as cur:
            cur.execute("INSERT INTO servers (server_id, server_ip, active, web_socket_url, conf_engine)"
                        " VALUES (%s, %s, 'Y', %s, %s)", (server_id, server_ip, url, conf_engine))
        self.server_ids.append(server_id)
        return server_ip

    def phone(self, server_ip: str, extension: str, *, is_webphone: str = "Y", active: str = "Y",
              conf_secret: str | None = None, **columns: str) -> str:
        """A webphone whose conf_secret is the password the stack's Kamailio expects of `extension`."""
        values = {"extension": extension, "server_ip": server_ip, "active": active, "template_id": "",
                  "protocol": "SIP", "is_webphone": is_webphone, "login": extension,
                  "conf_secret": conf_secret if conf_secret is not None else agents.agent_password(self.passwords,
                                                                                                  extension),
                  **columns}
        with self.cursor() as cur:
            cur.execute(f"INSERT INTO phones ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))})",
                        tuple(values.values()))
        self.phones.append((extension, server_ip))
        return values["conf_secret"]

    def login(self, user: str, extension: str, server_ip: str, conf_exten: str, base: str) -> tuple[int, str]:
        with self.cursor() as cur:
            found = vicidial.login(cur, user=user, extension=extension, server_ip=server_ip, conf_exten=conf_exten,
                                   webphone_base=base)
        self.users.append(user)
        return found

    def logout(self, user: str) -> int:
        with self.cursor() as cur:
            return vicidial.logout(cur, user)

    def execute(self, sql: str, *args: object) -> int:
        with self.cursor() as cur:
            return int(cur.execute(sql, args))

    def close(self) -> None:
        with self.cursor() as cur:
            for user in self.users:
                cur.execute("DELETE FROM vicidial_live_agents WHERE user = %s", (user,))
                cur.execute("DELETE FROM vicidial_session_data WHERE user = %s", (user,))
            for extension, server_ip in self.phones:
                cur.execute("DELETE FROM phones WHERE extension = %s AND server_ip = %s", (extension, server_ip))
            for server_id in self.server_ids:
                cur.execute("DELETE FROM servers WHERE server_id = %s", (server_id,))
        self.conn.close()
