"""service.runtime: the environment, the one-line exit on a bad variable, the TLS pair loaded at start-up."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import ConfigError, load_settings
from service.runtime import environment, tls_context

BASE = {"AUTH_KEY_SECRET": "0123456789abcdef-secret"}


def _pair(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def _tls(cert: object, key: object) -> ssl.SSLContext | None:
    return tls_context(load_settings({**BASE, "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}))


def test_no_tls_without_the_pair() -> None:
    assert tls_context(load_settings(BASE)) is None


def test_a_key_that_does_not_match_the_certificate_names_tls_key_file(tmp_path: Path) -> None:
    cert_a, key_a = _pair(tmp_path, "a")
    _, key_b = _pair(tmp_path, "b")
    assert isinstance(_tls(cert_a, key_a), ssl.SSLContext)
    with pytest.raises(ConfigError) as info:
        _tls(cert_a, key_b)
    assert info.value.variable == "TLS_KEY_FILE" and "\n" not in str(info.value)


@pytest.mark.parametrize(("cert", "key", "variable"), [
    ("/etc/hostname", "/etc/hostname", "TLS_CERT_FILE"),  # no PEM certificate in it
    ("/nonexistent.pem", "/nonexistent.key", "TLS_CERT_FILE"),
    ("CERT", "/nonexistent.key", "TLS_KEY_FILE"),
])
def test_a_bad_tls_file_is_one_line_naming_it(tmp_path: Path, cert: str, key: str, variable: str) -> None:
    real_cert, _ = _pair(tmp_path, "a")
    with pytest.raises(ConfigError) as info:
        _tls(real_cert if cert == "CERT" else cert, key)
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ") and "\n" not in str(info.value)


def test_the_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=1111\nTURN_TTL=60\n")
    monkeypatch.setenv("PORT", "2222")
    env = environment(str(dotenv))
    assert (env["PORT"], env["TURN_TTL"]) == ("2222", "60")


@pytest.mark.parametrize(("variable", "value", "args"), [
    ("TURN_PORT", "x", ["webphone-url", "--customer-id", "1", "--user-id", "1", "--username", "a", "--password", "p",
                        "--expires", "2030-01-01T00:00:00Z"]),
    ("PORT", "http", ["serve"]),
    ("TLS_KEY_FILE", "/nonexistent.key", ["serve"]),
])
def test_a_bad_variable_stops_a_command_with_one_line(tmp_path: Path, variable: str, value: str,
                                                      args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"TLS_CERT_FILE", "TLS_KEY_FILE", "PORT", "TURN_PORT"}}
    env.update(BASE, **{variable: value})
    if variable == "TLS_KEY_FILE":
        env["TLS_CERT_FILE"] = str(_pair(tmp_path, "a")[0])
    # In an empty directory: no .env there, only the variables given here.
    proc = subprocess.run([sys.executable, "-m", "service", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.startswith(f"configuration error: {variable}: ") and proc.stderr.count("\n") == 1, proc.stderr
