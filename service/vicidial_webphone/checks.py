"""The launch's checks against ViciDial's database, in their order: the SQL each needs and the decision on the
rows it read. Pure: the database I/O is in `lookup.py`, the order in `routes.py`.

The database compares strings case-insensitively and ignores trailing spaces (`utf8mb3_unicode_ci`), so the SQL
only narrows the rows down and every comparison that decides is made here, exactly.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Sequence

from ..sip_proxy.phone_routes import Refusal as Refusal  # the refusals of this module are the same shape
from .launch import Launch, Options, same_query

WEBPHONE_KINDS = ("Y", "Y_API_LAUNCH")

# A phone with this extension (any server) and the servers rows of its server_ip (server_ip is not unique there).
PHONE_SQL = (
    "SELECT p.extension, p.server_ip, p.is_webphone, p.conf_secret, p.protocol,"
    " COALESCE(s.external_server_ip, ''), COALESCE(s.conf_engine, 'MEETME')"
    " FROM phones p LEFT JOIN servers s ON s.server_ip = p.server_ip"
    " WHERE p.extension = %s AND p.active = 'Y'"
)
# The agent logged in on this phone (`<protocol>/<extension>`), and whether its row is fresh by the database's clock.
LIVE_AGENT_SQL = (
    "SELECT live_agent_id, user, extension, conf_exten, server_ip,"
    " last_update_time >= NOW() - INTERVAL %s SECOND"
    " FROM vicidial_live_agents WHERE extension = %s"
)
LIVE_AGENT_BY_ID_SQL = (
    "SELECT user, extension, server_ip, last_update_time >= NOW() - INTERVAL %s SECOND"
    " FROM vicidial_live_agents WHERE live_agent_id = %s"
)
SESSION_DATA_SQL = "SELECT extension, webphone_url FROM vicidial_session_data WHERE user = %s"
# The exchange of a launch token: the phone's secret, read again rather than carried in the token.
SECRET_SQL = ("SELECT extension, server_ip, conf_secret FROM phones"
              " WHERE extension = %s AND server_ip = %s AND active = 'Y'")


def live_agents_sql(count: int) -> str:
    """The poll of every ViciDial session of the process: one statement for `count` live_agent_ids."""
    marks = ", ".join(["%s"] * count)
    return ("SELECT live_agent_id, last_update_time >= NOW() - INTERVAL %s SECOND"
            f" FROM vicidial_live_agents WHERE live_agent_id IN ({marks})")


BAD_SYSTEM_KEY = Refusal(403, "bad_system_key", "The launch's system key is not this ViciDial's.")
LOOKUP_FAILED_MESSAGE = "ViciDial's database could not be read, so the launch could not be checked. Try again shortly."


def bad_launch(problem: str) -> Refusal:
    return Refusal(400, "bad_launch", f"This is not a webphone launch from ViciDial's agent screen ({problem}).")


def lookup_failed(exc: BaseException) -> Refusal:
    return Refusal(503, "vicidial_lookup_failed", f"{LOOKUP_FAILED_MESSAGE} ({type(exc).__name__})")


def system_key_ok(expected: str | None, given: str) -> bool:
    if expected is None:
        return True
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclasses.dataclass(frozen=True, slots=True)
class Phone:
    extension: str
    server_ip: str
    protocol: str
    conf_engine: str


PhoneRow = tuple[str, str, str, str, str, str, str]


def decide_phone(launch: Launch, rows: Sequence[PhoneRow]) -> Phone | Refusal:
    """Exactly one active phone with this extension (exactly) on the launch's server (its own address or its
    server's external one), a webphone, whose `conf_secret` is the launch's `phone_pass` (constant time)."""
    matches: dict[tuple[str, str], PhoneRow] = {}
    for row in rows:
        extension, server_ip, _kind, _secret, _protocol, external_ip, _engine = row
        if extension == launch.phone_login and launch.server_ip in (server_ip, external_ip):
            matches.setdefault((extension, server_ip), row)
    if len(matches) != 1:
        many = len(matches) > 1
        return Refusal(403, "unknown_phone",
                       f"ViciDial has {'several' if many else 'no'} active phone{'s' if many else ''} with the"
                       f" extension {launch.phone_login!r} on the server {launch.server_ip}.")
    extension, server_ip, kind, secret, protocol, _external_ip, engine = next(iter(matches.values()))
    if kind not in WEBPHONE_KINDS:
        return Refusal(403, "not_a_webphone", f"The phone {extension!r} is not set as a webphone in ViciDial.")
    if not hmac.compare_digest((secret or "").encode(), launch.phone_pass.encode()):
        return Refusal(403, "bad_phone_pass", f"The launch's password is not the phone {extension!r}'s.")
    return Phone(extension, server_ip, protocol or "SIP", (engine or "MEETME").upper())


def agent_extension(phone: Phone) -> str:
    """How `vicidial_live_agents.extension` names the phone: `SIP/1001`."""
    return f"{phone.protocol}/{phone.extension}"


@dataclasses.dataclass(frozen=True, slots=True)
class Agent:
    live_agent_id: int
    user: str
    conf_exten: str
    server_ip: str


AgentRow = tuple[int, str, str, str, str, int | None]


def decide_agent(phone: Phone, options: Options, rows: Sequence[AgentRow]) -> Agent | Refusal:
    """The live, fresh `vicidial_live_agents` row of this phone, in the launch's conference when it names one."""
    wanted = agent_extension(phone)
    live = [Agent(int(live_id), user, str(conf_exten or ""), server_ip or "")
            for live_id, user, extension, conf_exten, server_ip, fresh in rows
            if extension == wanted and fresh and (options.session is None or str(conf_exten) == options.session)]
    if not live:
        where = f" in the conference {options.session}" if options.session else ""
        return Refusal(403, "agent_not_logged_in",
                       f"No agent is logged in to ViciDial on the phone {wanted}{where}: log in to the agent screen"
                       " first.")
    return max(live, key=lambda agent: agent.live_agent_id)


def decide_session_data(phone: Phone, raw_query: str, rows: Sequence[tuple[str, str | None]]) -> Refusal | None:
    """A `vicidial_session_data` row of this agent and phone holding another webphone URL: an earlier login's."""
    for extension, url in rows:
        if extension not in (phone.extension, agent_extension(phone)):
            continue
        stored = (url or "").partition("?")[2]
        if not same_query(stored, raw_query):
            return Refusal(403, "stale_launch",
                           "This webphone link is from an earlier ViciDial login: open the phone from the agent"
                           " screen again.")
    return None


def decide_secret(extension: str, server_ip: str, rows: Sequence[tuple[str, str, str]]) -> str | None:
    for row_extension, row_server_ip, secret in rows:
        if row_extension == extension and row_server_ip == server_ip:
            return secret or ""
    return None
