"""Settings: the environment variables of the README's Configuration table, parsed once and validated.

`load_settings` is a pure function of a mapping (`service.runtime.environment`: ``os.environ`` over `.env`), so
tests build settings from plain dicts. Every variable is one row of `VARIABLES`: its name, the `Settings` field it
fills, its parser and its default (text, parsed like a value that was set). A bad value raises `ConfigError`,
whose message is the one line that start-up prints: the variable's name and what is wrong with it.

Nothing here reads a file: the TLS pair is loaded once at start-up by `service.runtime.tls_context`, the upstream
CA file once by the app factory (`service.sip_proxy.upstream_tls`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .archive.office_hours import OfficeHours, OfficeHoursError, parse_office_hours
from .forwarded import Network, parse_networks
from .sip_proxy.upstream_tls import MODES as TLS_VERIFY_MODES, TlsVerify

VICIDIAL_UPSTREAM = "vicidial"  # SIP_UPSTREAM: each agent to its ViciDial phone's server (sip_proxy/phone_routes.py)


class ConfigError(ValueError):
    """A configuration variable has a value the service cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseConfig:
    host: str
    port: int
    user: str
    password: str
    database: str
    unix_socket: str | None = None

    @classmethod
    def from_url(cls, url: str, variable: str = "DATABASE_URL") -> DatabaseConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ConfigError(variable, f"expected mysql://user:password@host:port/dbname, got scheme {parts.scheme!r}")
        try:
            port = parts.port or 3306
        except ValueError as exc:
            raise ConfigError(variable, f"bad port: {exc}") from None
        database = parts.path.lstrip("/")
        if not database or "/" in database:
            raise ConfigError(variable, "the URL must name one database, e.g. mysql://user:pw@127.0.0.1:3306/asterisk")
        if not parts.hostname:
            raise ConfigError(variable, "the URL must name a host")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(database),
        )


    def describe(self) -> str:
        """The database as a URL without its password, for messages."""
        where = f"localhost (socket {self.unix_socket})" if self.unix_socket else f"{self.host}:{self.port}"
        return f"mysql://{self.user}@{where}/{self.database}"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    name: str
    sha256_hex: str


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Parsed values only; the defaults live in `VARIABLES`."""

    host: str
    port: int
    database: DatabaseConfig
    archive_api_keys: tuple[ApiKeyEntry, ...]
    archive_max_leads: int
    office_hours: OfficeHours
    office_hours_tz: ZoneInfo | None
    sip_upstream: str
    sip_upstream_ca_file: str | None
    sip_upstream_tls_verify: TlsVerify
    auth_key_secret: str
    turn_secret: str | None
    turn_ttl: int
    turn_port: int
    turn_cli: tuple[str, int] | None  # coturn's CLI (host, port): cancels allocations of ended sessions
    turn_cli_password: str | None
    ice_transport_policy: Literal["all", "relay"]
    tls_cert_file: str | None
    tls_key_file: str | None
    allowed_origins: tuple[str, ...]
    trusted_proxies: tuple[Network, ...]
    max_sessions_per_key: int
    log_format: Literal["text", "json"]
    vicidial_webphone: bool
    vicidial_system_key: str | None
    vicidial_agent_stale_s: int
    vicidial_session_max: int  # seconds

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


class Problem(ValueError):
    """What a parser found wrong with a value; `load_settings` adds the variable's name."""


@dataclasses.dataclass(frozen=True, slots=True)
class Variable:
    name: str
    field: str
    parse: Callable[[str], Any]
    default: str | None = None
    """The value when the variable is unset or blank, parsed like a set one; None: the field is `unset`."""
    unset: Any = None
    required: str | None = None
    """If set, an unset variable is this error instead of a default."""


def _host(raw: str) -> str:
    if any(c.isspace() or c in "/:@" for c in raw) and not _is_ipv6(raw):
        raise Problem(f"{raw!r} is neither an IP address nor a host name")
    return raw


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _port(raw: str) -> int:
    if not raw.isdecimal() or not 1 <= int(raw) <= 65535:
        raise Problem(f"expected a port number 1-65535, got {raw!r}")
    return int(raw)


def _positive_seconds(raw: str) -> int:
    if not raw.isdecimal() or int(raw) <= 0:
        raise Problem(f"expected a positive number of seconds, got {raw!r}")
    return int(raw)


def _api_keys(raw: str) -> tuple[ApiKeyEntry, ...]:
    entries = []
    names: set[str] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, digest = item.rpartition(":")
        digest = digest.strip().lower()
        name = name.strip()
        if not sep or not name:
            raise Problem(f"entry {item[:24]!r}... is not name:sha256hex")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise Problem(f"entry {name!r}: the hash must be 64 hex digits (SHA-256 of the key)")
        if name in names:
            raise Problem(f"the name {name!r} appears twice")
        names.add(name)
        entries.append(ApiKeyEntry(name, digest))
    return tuple(entries)


def _office_hours(raw: str) -> OfficeHours:
    try:
        return parse_office_hours(raw)
    except OfficeHoursError as exc:
        raise Problem(str(exc)) from None


def _zone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(f"{raw!r} is not an IANA time zone such as Africa/Johannesburg") from None


def websocket_url_problem(url: str) -> str | None:
    """What is wrong with `url` as an upstream WebSocket URL (SIP_UPSTREAM, servers.web_socket_url), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return f"expected a ws:// or wss:// URL, got {url!r}"
    try:
        parts.port  # noqa: B018 - raises on a port that is not one
    except ValueError as exc:
        return f"bad port in {url!r}: {exc}"
    return None


def _sip_upstream(raw: str) -> str:
    if raw.lower() == VICIDIAL_UPSTREAM:
        return VICIDIAL_UPSTREAM
    problem = websocket_url_problem(raw)
    if problem:
        raise Problem(f"{problem}, or {VICIDIAL_UPSTREAM}")
    return raw


def _host_port(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Problem(f"expected coturn's CLI address as host:port (e.g. 127.0.0.1:5766), got {raw!r}")
    return host, int(port)


def _tls_verify(raw: str) -> TlsVerify:
    mode = raw.lower()
    for known in TLS_VERIFY_MODES:
        if mode == known:
            return known
    raise Problem(f"expected full, chain or none, got {mode!r}")


def _auth_key_secret(raw: str) -> str:
    if len(raw) < 16:
        raise Problem("too short: use at least 16 random characters")
    return raw


def _ice_policy(raw: str) -> str:
    policy = raw.lower()
    if policy not in ("all", "relay"):
        raise Problem(f"expected all or relay, got {policy!r}")
    return policy


def _origins(raw: str) -> tuple[str, ...]:
    origins = []
    for item in raw.split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise Problem(f"{item!r} is not an origin like https://crm.example.com")
        origins.append(item.lower())
    return tuple(origins)


def _networks(raw: str) -> tuple[Network, ...]:
    try:
        return parse_networks(raw)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def _positive_count(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
        raise Problem(f"expected a positive whole number, got {raw!r}")
    return int(raw)


MAX_ARCHIVE_MAX_LEADS = 100_000
"""ARCHIVE_MAX_LEADS's ceiling: one request's ids are one SQL IN list, and one statement's lock on a MyISAM
vicidial_list grows with it."""


def _max_leads(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ARCHIVE_MAX_LEADS:
        raise Problem(f"expected a number of leads from 1 to {MAX_ARCHIVE_MAX_LEADS}, got {raw!r}")
    return int(raw)


def _log_format(raw: str) -> str:
    value = raw.lower()
    if value not in ("text", "json"):
        raise Problem(f"expected text or json, got {value!r}")
    return value


def _text(raw: str) -> str:
    return raw


def _on_off(raw: str) -> bool:
    value = raw.lower()
    if value not in ("on", "off"):
        raise Problem(f"expected on or off, got {value!r}")
    return value == "on"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(raw: str) -> int:
    """Seconds from `3600`, `90s`, `45m`, `12h` or `1d`."""
    value = raw.lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    if not number.isascii() or not number.isdigit() or int(number) <= 0:
        raise Problem(f"expected a duration such as 12h, 45m or 3600 (seconds), got {raw!r}")
    return int(number) * _UNITS[unit]


VARIABLES: tuple[Variable, ...] = (
    Variable("HOST", "host", _host, "127.0.0.1"),
    Variable("PORT", "port", _port, "8080"),
    Variable("DATABASE_URL", "database", DatabaseConfig.from_url, "mysql://root@127.0.0.1:3306/asterisk"),
    Variable("ARCHIVE_API_KEYS", "archive_api_keys", _api_keys, unset=()),
    Variable("ARCHIVE_MAX_LEADS", "archive_max_leads", _max_leads, "500"),
    Variable("OFFICE_HOURS", "office_hours", _office_hours, "mon-fri 08:00-17:00"),
    Variable("OFFICE_HOURS_TZ", "office_hours_tz", _zone),
    Variable("SIP_UPSTREAM", "sip_upstream", _sip_upstream, "ws://127.0.0.1:8088"),
    # Only named here: the app factory loads it (service/sip_proxy/upstream_tls.py), once.
    Variable("SIP_UPSTREAM_CA_FILE", "sip_upstream_ca_file", _text),
    Variable("SIP_UPSTREAM_TLS_VERIFY", "sip_upstream_tls_verify", _tls_verify, "full"),
    Variable("AUTH_KEY_SECRET", "auth_key_secret", _auth_key_secret,
             required="not set: webphone auth_keys cannot be checked without it"),
    Variable("TURN_SECRET", "turn_secret", _text),
    Variable("TURN_TTL", "turn_ttl", _positive_seconds, "3600"),
    Variable("TURN_PORT", "turn_port", _port, "3478"),
    Variable("TURN_CLI", "turn_cli", _host_port),
    Variable("TURN_CLI_PASSWORD", "turn_cli_password", _text),
    Variable("ICE_TRANSPORT_POLICY", "ice_transport_policy", _ice_policy, "all"),
    Variable("TLS_CERT_FILE", "tls_cert_file", _text),
    Variable("TLS_KEY_FILE", "tls_key_file", _text),
    Variable("ALLOWED_ORIGINS", "allowed_origins", _origins, unset=()),
    Variable("TRUSTED_PROXIES", "trusted_proxies", _networks, unset=()),
    Variable("MAX_SESSIONS_PER_KEY", "max_sessions_per_key", _positive_count, "5"),
    Variable("LOG_FORMAT", "log_format", _log_format, "text"),
    Variable("VICIDIAL_WEBPHONE", "vicidial_webphone", _on_off, "off"),
    Variable("VICIDIAL_SYSTEM_KEY", "vicidial_system_key", _text),
    Variable("VICIDIAL_AGENT_STALE_S", "vicidial_agent_stale_s", _positive_seconds, "60"),
    Variable("VICIDIAL_SESSION_MAX", "vicidial_session_max", _duration, "12h"),
)


def _check_together(settings: Settings) -> None:
    """Rules between variables, after each one parsed on its own."""
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        missing = "TLS_KEY_FILE" if settings.tls_key_file is None else "TLS_CERT_FILE"
        raise ConfigError(missing, "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
    if settings.turn_cli is not None and settings.turn_cli_password is None:
        raise ConfigError("TURN_CLI_PASSWORD", "not set: coturn's CLI needs its --cli-password")


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse the environment into `Settings`; raise `ConfigError` on the first bad variable."""
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        raw = (env.get(variable.name) or "").strip() or variable.default
        if raw is None:
            if variable.required is not None:
                raise ConfigError(variable.name, variable.required)
            values[variable.field] = variable.unset
            continue
        try:
            values[variable.field] = variable.parse(raw)
        except Problem as exc:
            raise ConfigError(variable.name, str(exc)) from None
    settings = Settings(**values)
    _check_together(settings)
    return settings
