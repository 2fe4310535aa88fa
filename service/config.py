"""Settings: the environment variables of SPEC section 2, read once and validated.

`load_settings` is a pure function of a mapping (``os.environ`` merged with `.env` by the CLI), so tests
build settings from plain dicts. A bad value raises `ConfigError`, whose message is the one line that
start-up prints: the variable's name and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .forwarded import Network, parse_networks


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
    def from_url(cls, url: str, variable: str = "DATABASE_URL") -> "DatabaseConfig":
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


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    name: str
    sha256_hex: str


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database: DatabaseConfig = DatabaseConfig("127.0.0.1", 3306, "root", "", "asterisk")
    archive_api_keys: tuple[ApiKeyEntry, ...] = ()
    office_hours: str = "mon-fri 08:00-17:00"
    office_hours_tz: str | None = None
    sip_upstream: str = "ws://127.0.0.1:8088"
    sip_upstream_ca_file: str | None = None
    sip_upstream_tls_verify: Literal["full", "chain", "none"] = "full"
    auth_key_secret: str = ""
    turn_secret: str | None = None
    turn_ttl: int = 3600
    turn_port: int = 3478
    turn_cli: tuple[str, int] | None = None  # coturn's CLI (host, port): cancels allocations of ended sessions
    turn_cli_password: str | None = None
    ice_transport_policy: Literal["all", "relay"] = "all"
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    max_sessions_per_key: int = 5

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    if not raw.isdecimal() or not 1 <= int(raw) <= 65535:
        raise ConfigError(name, f"expected a port number 1-65535, got {raw!r}")
    return int(raw)


def _api_keys(raw: str | None) -> tuple[ApiKeyEntry, ...]:
    if raw is None:
        return ()
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
            raise ConfigError("ARCHIVE_API_KEYS", f"entry {item[:24]!r}... is not name:sha256hex")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError("ARCHIVE_API_KEYS", f"entry {name!r}: the hash must be 64 hex digits (SHA-256 of the key)")
        if name in names:
            raise ConfigError("ARCHIVE_API_KEYS", f"the name {name!r} appears twice")
        names.add(name)
        entries.append(ApiKeyEntry(name, digest))
    return tuple(entries)


def _origins(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    origins = []
    for item in raw.split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ConfigError("ALLOWED_ORIGINS", f"{item!r} is not an origin like https://crm.example.com")
        origins.append(item.lower())
    return tuple(origins)


def _check_tls_pair(cert: str, key: str) -> None:
    """Load the pair as `serve` will, so a bad file stops start-up with one line naming it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_verify_locations(cafile=cert)
    except ssl.SSLError as exc:
        raise ConfigError("TLS_CERT_FILE", f"{cert} holds no PEM certificate ({exc.reason or exc})") from None
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            "TLS_KEY_FILE", f"{key} is not the private key of TLS_CERT_FILE's certificate ({exc.reason or exc})"
        ) from None


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


def _turn_cli(env: Mapping[str, str]) -> tuple[tuple[str, int] | None, str | None]:
    raw = _get(env, "TURN_CLI")
    password = _get(env, "TURN_CLI_PASSWORD")
    if raw is None:
        return None, None
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError("TURN_CLI", f"expected coturn's CLI address as host:port (e.g. 127.0.0.1:5766), got {raw!r}")
    if password is None:
        raise ConfigError("TURN_CLI_PASSWORD", "not set: coturn's CLI needs its --cli-password")
    return (host, int(port)), password


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate the environment into `Settings`; raise `ConfigError` on the first bad variable."""
    host = _get(env, "HOST") or "127.0.0.1"
    if any(c.isspace() or c in "/:@" for c in host) and not _is_ipv6(host):
        raise ConfigError("HOST", f"{host!r} is neither an IP address nor a host name")

    db_url = _get(env, "DATABASE_URL") or "mysql://root@127.0.0.1:3306/asterisk"
    database = DatabaseConfig.from_url(db_url)

    office_hours = _get(env, "OFFICE_HOURS") or "mon-fri 08:00-17:00"
    # The schedule's syntax lives with the archive API; checking it here makes a bad value stop start-up
    # with the one-line message, like every other variable.
    from .archive.office_hours import OfficeHoursError, parse_office_hours

    try:
        parse_office_hours(office_hours)
    except OfficeHoursError as exc:
        raise ConfigError("OFFICE_HOURS", str(exc)) from None

    tz = _get(env, "OFFICE_HOURS_TZ")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("OFFICE_HOURS_TZ", f"{tz!r} is not an IANA time zone such as Africa/Johannesburg") from None

    upstream = _get(env, "SIP_UPSTREAM") or "ws://127.0.0.1:8088"
    if upstream.lower() == VICIDIAL_UPSTREAM:
        upstream = VICIDIAL_UPSTREAM
    else:
        problem = websocket_url_problem(upstream)
        if problem:
            raise ConfigError("SIP_UPSTREAM", f"{problem}, or {VICIDIAL_UPSTREAM}")
    from .sip_proxy.upstream_tls import MODES, CaFileError, client_context

    tls_verify = (_get(env, "SIP_UPSTREAM_TLS_VERIFY") or "full").lower()
    if tls_verify not in MODES:
        raise ConfigError("SIP_UPSTREAM_TLS_VERIFY", f"expected full, chain or none, got {tls_verify!r}")
    ca_file = _get(env, "SIP_UPSTREAM_CA_FILE")
    if ca_file is not None:
        try:
            client_context(ca_file, "full")
        except CaFileError as exc:
            raise ConfigError("SIP_UPSTREAM_CA_FILE", str(exc)) from None

    auth_key_secret = _get(env, "AUTH_KEY_SECRET")
    if auth_key_secret is None:
        raise ConfigError("AUTH_KEY_SECRET", "not set: webphone auth_keys cannot be checked without it")
    if len(auth_key_secret) < 16:
        raise ConfigError("AUTH_KEY_SECRET", "too short: use at least 16 random characters")

    ttl_raw = _get(env, "TURN_TTL")
    turn_ttl = 3600
    if ttl_raw is not None:
        if not ttl_raw.isdecimal() or int(ttl_raw) <= 0:
            raise ConfigError("TURN_TTL", f"expected a positive number of seconds, got {ttl_raw!r}")
        turn_ttl = int(ttl_raw)

    policy = (_get(env, "ICE_TRANSPORT_POLICY") or "all").lower()
    if policy not in ("all", "relay"):
        raise ConfigError("ICE_TRANSPORT_POLICY", f"expected all or relay, got {policy!r}")

    cert, key = _get(env, "TLS_CERT_FILE"), _get(env, "TLS_KEY_FILE")
    if (cert is None) != (key is None):
        missing = "TLS_KEY_FILE" if key is None else "TLS_CERT_FILE"
        raise ConfigError(missing, "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
    for name, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        if path is not None:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(name, f"cannot read {path}: {exc.strerror}") from None
    if cert is not None:
        _check_tls_pair(cert, key)

    turn_cli, turn_cli_password = _turn_cli(env)
    try:
        trusted_proxies = parse_networks(_get(env, "TRUSTED_PROXIES") or "")
    except ValueError as exc:
        raise ConfigError("TRUSTED_PROXIES", str(exc)) from None

    per_key_raw = _get(env, "MAX_SESSIONS_PER_KEY")
    max_sessions_per_key = 5
    if per_key_raw is not None:
        if not per_key_raw.isascii() or not per_key_raw.isdigit() or int(per_key_raw) <= 0:
            raise ConfigError("MAX_SESSIONS_PER_KEY", f"expected a positive whole number, got {per_key_raw!r}")
        max_sessions_per_key = int(per_key_raw)

    return Settings(
        host=host,
        port=_port(env, "PORT", 8080),
        database=database,
        archive_api_keys=_api_keys(_get(env, "ARCHIVE_API_KEYS")),
        office_hours=office_hours,
        office_hours_tz=tz,
        sip_upstream=upstream,
        sip_upstream_ca_file=ca_file,
        sip_upstream_tls_verify=tls_verify,  # type: ignore[arg-type]
        auth_key_secret=auth_key_secret,
        turn_secret=_get(env, "TURN_SECRET"),
        turn_ttl=turn_ttl,
        turn_port=_port(env, "TURN_PORT", 3478),
        turn_cli=turn_cli,
        turn_cli_password=turn_cli_password,
        ice_transport_policy=policy,  # type: ignore[arg-type]
        tls_cert_file=cert,
        tls_key_file=key,
        allowed_origins=_origins(_get(env, "ALLOWED_ORIGINS")),
        trusted_proxies=trusted_proxies,
        max_sessions_per_key=max_sessions_per_key,
    )
