"""service.config: every variable of the README's Configuration table, its default and its one-line error."""

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.archive.office_hours import parse_office_hours
from service.config import VARIABLES, ConfigError, load_settings

BASE = {"AUTH_KEY_SECRET": "0123456789abcdef-secret"}


def test_defaults() -> None:
    s = load_settings(BASE)
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert (s.database.host, s.database.port, s.database.user, s.database.database) == \
        ("127.0.0.1", 3306, "root", "asterisk")
    assert s.archive_api_keys == ()
    assert s.office_hours == parse_office_hours("mon-fri 08:00-17:00") and s.office_hours_tz is None
    assert s.sip_upstream == "ws://127.0.0.1:8088"
    assert s.turn_secret is None and s.turn_ttl == 3600 and s.turn_port == 3478
    assert s.max_sessions_per_key == 5
    assert load_settings({**BASE, "MAX_SESSIONS_PER_KEY": "2"}).max_sessions_per_key == 2
    assert s.ice_transport_policy == "all"
    assert not s.tls and s.allowed_origins == ()
    assert s.trusted_proxies == ()


def test_trusted_proxies_are_addresses_and_networks() -> None:
    s = load_settings({**BASE, "TRUSTED_PROXIES": "127.0.0.1, ::1, 10.1.2.3/8"})
    assert [str(n) for n in s.trusted_proxies] == ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]


def test_turn_cli_address_and_password() -> None:
    s = load_settings({**BASE, "TURN_CLI": "[::1]:5766", "TURN_CLI_PASSWORD": "pw"})
    assert (s.turn_cli, s.turn_cli_password) == (("::1", 5766), "pw")
    assert load_settings(BASE).turn_cli is None


@pytest.mark.parametrize("raw, expected", [(None, 500), ("1", 1), (" 2000 ", 2000), ("100000", 100000)])
def test_archive_max_leads(raw, expected) -> None:
    env = BASE if raw is None else {**BASE, "ARCHIVE_MAX_LEADS": raw}
    assert load_settings(env).archive_max_leads == expected


@pytest.mark.parametrize("raw", ["0", "-5", "500.0", "lots", "100001", "\u0665"])
def test_bad_archive_max_leads_names_the_variable_and_the_range(raw) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "ARCHIVE_MAX_LEADS": raw})
    assert caught.value.variable == "ARCHIVE_MAX_LEADS" and "from 1 to 100000" in caught.value.problem


def test_database_url_with_escaped_password() -> None:
    s = load_settings({**BASE, "DATABASE_URL": "mysql://cron:p%40ss%3Aw@db.local:3307/asterisk"})
    assert (s.database.user, s.database.password, s.database.host, s.database.port) == \
        ("cron", "p@ss:w", "db.local", 3307)


def test_api_keys_parsed() -> None:
    digest = "a" * 64
    s = load_settings({**BASE, "ARCHIVE_API_KEYS": f"crm:{digest}, nightly:{'B' * 64}"})
    assert [(k.name, k.sha256_hex) for k in s.archive_api_keys] == [("crm", digest), ("nightly", "b" * 64)]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "AUTH_KEY_SECRET"),
        ({**BASE, "PORT": "http"}, "PORT"),
        ({**BASE, "PORT": "70000"}, "PORT"),
        ({**BASE, "DATABASE_URL": "postgres://x@y/z"}, "DATABASE_URL"),
        ({**BASE, "DATABASE_URL": "mysql://x@y:3306/"}, "DATABASE_URL"),
        ({**BASE, "ARCHIVE_API_KEYS": "crm:not-hex"}, "ARCHIVE_API_KEYS"),
        ({**BASE, "ARCHIVE_API_KEYS": f"crm:{'a' * 64},crm:{'b' * 64}"}, "ARCHIVE_API_KEYS"),
        ({**BASE, "OFFICE_HOURS_TZ": "Mars/Olympus"}, "OFFICE_HOURS_TZ"),
        ({**BASE, "SIP_UPSTREAM": "http://pbx"}, "SIP_UPSTREAM"),
        ({**BASE, "SIP_UPSTREAM": "ws://pbx:99999"}, "SIP_UPSTREAM"),
        ({**BASE, "SIP_UPSTREAM": "ws://pbx:ws"}, "SIP_UPSTREAM"),
        ({**BASE, "PORT": "8\u00b2"}, "PORT"),
        ({**BASE, "TURN_TTL": "\u00b2"}, "TURN_TTL"),
        ({**BASE, "TURN_TTL": "-5"}, "TURN_TTL"),
        ({**BASE, "TURN_PORT": "0"}, "TURN_PORT"),
        ({**BASE, "MAX_SESSIONS_PER_KEY": "0"}, "MAX_SESSIONS_PER_KEY"),
        ({**BASE, "MAX_SESSIONS_PER_KEY": "many"}, "MAX_SESSIONS_PER_KEY"),
        ({**BASE, "TURN_CLI": "127.0.0.1", "TURN_CLI_PASSWORD": "x"}, "TURN_CLI"),
        ({**BASE, "TURN_CLI": "127.0.0.1:99999", "TURN_CLI_PASSWORD": "x"}, "TURN_CLI"),
        ({**BASE, "TURN_CLI": "127.0.0.1:5766"}, "TURN_CLI_PASSWORD"),
        ({**BASE, "TURN_PORT": "3478/udp"}, "TURN_PORT"),
        ({**BASE, "ICE_TRANSPORT_POLICY": "sometimes"}, "ICE_TRANSPORT_POLICY"),
        ({**BASE, "TLS_CERT_FILE": "/etc/hostname"}, "TLS_KEY_FILE"),
        ({**BASE, "TLS_KEY_FILE": "/etc/hostname"}, "TLS_CERT_FILE"),
        ({**BASE, "TURN_PORT": "x"}, "TURN_PORT"),
        ({**BASE, "OFFICE_HOURS": "mon-fri 9-5"}, "OFFICE_HOURS"),
        ({**BASE, "HOST": "a b"}, "HOST"),
        ({**BASE, "AUTH_KEY_SECRET": "short"}, "AUTH_KEY_SECRET"),
        ({**BASE, "ALLOWED_ORIGINS": "crm.example.com"}, "ALLOWED_ORIGINS"),
        ({**BASE, "TRUSTED_PROXIES": "127.0.0.1,nginx.local"}, "TRUSTED_PROXIES"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert "\n" not in str(info.value)


def test_parsed_values_are_kept() -> None:
    s = load_settings({**BASE, "OFFICE_HOURS": "vicidial:9to5", "OFFICE_HOURS_TZ": "Africa/Johannesburg",
                       "TURN_PORT": "13478", "ICE_TRANSPORT_POLICY": "RELAY", "ALLOWED_ORIGINS": "https://CRM.example/"})
    assert s.office_hours == parse_office_hours("vicidial:9to5")
    assert s.office_hours_tz == ZoneInfo("Africa/Johannesburg")
    assert (s.turn_port, s.ice_transport_policy, s.allowed_origins) == (13478, "relay", ("https://crm.example",))


def test_a_blank_value_is_the_default() -> None:
    assert load_settings({**BASE, "PORT": "  ", "TURN_PORT": ""}).port == 8080


def test_parsing_reads_no_file() -> None:
    """The TLS pair is only named here; `service.runtime.tls_context` loads it at start-up."""
    s = load_settings({**BASE, "TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"})
    assert s.tls and (s.tls_cert_file, s.tls_key_file) == ("/nonexistent.pem", "/nonexistent.key")


def test_the_readme_table_names_every_variable() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {name for row in table.splitlines() if row.startswith("| `")
                  for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert documented == {v.name for v in VARIABLES}
    assert len({v.field for v in VARIABLES}) == len(VARIABLES)


def test_the_vicidial_webphone_variables() -> None:
    s = load_settings(BASE)
    assert (s.vicidial_webphone, s.vicidial_system_key, s.vicidial_agent_stale_s, s.vicidial_session_max) == (
        False, None, 60, 12 * 3600)
    s = load_settings({**BASE, "VICIDIAL_WEBPHONE": "ON", "VICIDIAL_SYSTEM_KEY": "k", "VICIDIAL_AGENT_STALE_S": "30",
                       "VICIDIAL_SESSION_MAX": "45m"})
    assert (s.vicidial_webphone, s.vicidial_system_key, s.vicidial_agent_stale_s, s.vicidial_session_max) == (
        True, "k", 30, 2700)
    assert load_settings({**BASE, "VICIDIAL_SESSION_MAX": "3600"}).vicidial_session_max == 3600
    for name, raw in (("VICIDIAL_WEBPHONE", "yes"), ("VICIDIAL_SESSION_MAX", "12x"), ("VICIDIAL_SESSION_MAX", "0h"),
                      ("VICIDIAL_AGENT_STALE_S", "-1")):
        with pytest.raises(ConfigError) as error:
            load_settings({**BASE, name: raw})
        assert error.value.variable == name
