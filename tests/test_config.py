"""service.config: every variable of README's Configuration table, its default and its one-line error."""

import subprocess

import pytest

from service.config import ConfigError, load_settings

BASE = {"AUTH_KEY_SECRET": "0123456789abcdef-secret"}


def test_defaults() -> None:
    s = load_settings(BASE)
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert (s.database.host, s.database.port, s.database.user, s.database.database) == \
        ("127.0.0.1", 3306, "root", "asterisk")
    assert s.archive_api_keys == ()
    assert s.office_hours == "mon-fri 08:00-17:00"
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
        ({**BASE, "TLS_CERT_FILE": "/etc/hostname", "TLS_KEY_FILE": "/etc/hostname"}, "TLS_CERT_FILE"),
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
        ({**BASE, "TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"}, "TLS_CERT_FILE"),
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


def test_a_key_that_does_not_match_the_certificate_names_tls_key_file(tmp_path) -> None:
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", tmp_path / f"{name}.key", "-out", tmp_path / f"{name}.pem"],
                       check=True, capture_output=True)
    load_settings({**BASE, "TLS_CERT_FILE": str(tmp_path / "a.pem"), "TLS_KEY_FILE": str(tmp_path / "a.key")})
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, "TLS_CERT_FILE": str(tmp_path / "a.pem"), "TLS_KEY_FILE": str(tmp_path / "b.key")})
    assert info.value.variable == "TLS_KEY_FILE" and "\n" not in str(info.value)
