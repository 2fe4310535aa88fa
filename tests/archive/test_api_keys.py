"""API key parsing, checking and generation, pure."""

from __future__ import annotations

import hashlib

import pytest

from service.archive.api_keys import key_name, new_key, presented_key
from service.config import ApiKeyEntry, load_settings

ENTRIES = (
    ApiKeyEntry("crm", hashlib.sha256(b"crm-secret").hexdigest()),
    ApiKeyEntry("ops", hashlib.sha256(b"ops-secret").hexdigest()),
)


@pytest.mark.parametrize("header, key", [
    ("Key=abc", "abc"), ("key=abc", "abc"), ("KEY= abc ", "abc"), ("  Key=abc", "abc"),
    (None, None), ("", None), ("Key=", None), ("Bearer abc", None), ("Basic Key=abc", None), ("abc", None),
])
def test_presented_key(header, key) -> None:
    assert presented_key(header) == key


@pytest.mark.parametrize("header, name", [
    ("Key=crm-secret", "crm"), ("Key=ops-secret", "ops"), ("Key=crm-secretx", None), ("Key=CRM-SECRET", None),
    (None, None), ("Key=", None),
])
def test_key_name(header, name) -> None:
    assert key_name(header, ENTRIES) == name


def test_key_that_is_not_utf8_is_refused_not_an_error() -> None:
    # aiohttp hands header bytes that are not UTF-8 over as lone surrogates (surrogateescape).
    assert key_name("Key=\udcff\udcfe", ENTRIES) is None
    raw = "Key=" + b"crm-secret\xff".decode("utf-8", "surrogateescape")
    entries = (ApiKeyEntry("raw", hashlib.sha256(b"crm-secret\xff").hexdigest()),)
    assert key_name(raw, entries) == "raw"  # the digest is of the bytes sent


def test_no_entries_accept_nothing() -> None:
    assert key_name("Key=crm-secret", ()) is None


def test_sha256_of_the_empty_key_is_not_a_way_in() -> None:
    entries = (ApiKeyEntry("empty", hashlib.sha256(b"").hexdigest()),)
    assert key_name(None, entries) is None and key_name("Key=", entries) is None


def test_new_key_round_trips_through_settings() -> None:
    key, entry = new_key("crm-nightly")
    assert entry.startswith("crm-nightly:") and key not in entry and len(key) >= 40
    settings = load_settings({"AUTH_KEY_SECRET": "x" * 32, "ARCHIVE_API_KEYS": entry})
    assert key_name(f"Key={key}", settings.archive_api_keys) == "crm-nightly"
    assert new_key("crm-nightly")[0] != key


@pytest.mark.parametrize("name", ["", "two words", "a,b"])
def test_new_key_refuses_names_the_setting_cannot_hold(name) -> None:
    with pytest.raises(ValueError):
        new_key(name)


def test_api_key_command_prints_key_and_entry(capsys) -> None:
    from service.cli import main

    assert main(["api-key", "crm"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    key, entry = lines[1], lines[3]
    assert entry == f"crm:{hashlib.sha256(key.encode()).hexdigest()}"
