"""wss:// upstreams: SIP_UPSTREAM_CA_FILE and SIP_UPSTREAM_TLS_VERIFY against a Kamailio with its tls module,
with a private CA's certificates (with and without subjectAltName) and a self-signed one; /readyz names why."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from service.app import create_app
from service.config import ConfigError, load_settings
from service.sip_proxy import upstream_tls

from . import certs, tls_kamailio
from .helpers import new_username, registered_agent, session_query

BASE = {"AUTH_KEY_SECRET": "0123456789abcdef-secret"}


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstream-tls")


@pytest.fixture(scope="session")
def authority(tls_dir: Path) -> certs.Authority:
    return certs.Authority(tls_dir)


@pytest.fixture(scope="session")
def tls_pbx(stack_env: dict[str, str], tls_dir: Path, authority: certs.Authority) -> Iterator[tls_kamailio.TlsKamailio]:
    """One Kamailio, three WSS ports: `san` (private CA, subjectAltName 127.0.0.1), `no_san` (private CA,
    CN only, as ast_tls_cert makes them), `self_signed`."""
    pairs = {
        "san": authority.issue("san", tls_kamailio.HOST, san=True),
        "no_san": authority.issue("no-san", tls_kamailio.HOST, san=False),
        "self_signed": certs.self_signed(tls_dir, "self-signed", tls_kamailio.HOST),
    }
    server = tls_kamailio.start(tls_dir, pairs, stack_env["AUTH_KEY_SECRET"])
    try:
        yield server
    finally:
        server.stop()


def _settings(make_settings, stack_env, url: str, verify: str | None, ca_file: Path | None):
    env = {**stack_env, "SIP_UPSTREAM": url}
    env.pop("SIP_UPSTREAM_TLS_VERIFY", None)
    env.pop("SIP_UPSTREAM_CA_FILE", None)
    if verify is not None:
        env["SIP_UPSTREAM_TLS_VERIFY"] = verify
    if ca_file is not None:
        env["SIP_UPSTREAM_CA_FILE"] = str(ca_file)
    return make_settings(env)


# -- the context, without sockets ------------------------------------------------------------------------


def test_full_checks_chain_and_host_name_and_never_falls_back_to_the_cn() -> None:
    context = upstream_tls.client_context(None, "full")
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert not context.hostname_checks_common_name


def test_chain_checks_the_chain_only() -> None:
    context = upstream_tls.client_context(None, "chain")
    assert context.verify_mode is ssl.CERT_REQUIRED and not context.check_hostname


def test_none_checks_nothing() -> None:
    context = upstream_tls.client_context(None, "none")
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname


def test_a_ca_file_replaces_the_system_store(authority: certs.Authority) -> None:
    context = upstream_tls.client_context(str(authority.pem), "full")
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "OmniSense test CA"),),)]


def test_settings_read_both_variables(authority: certs.Authority) -> None:
    s = load_settings({**BASE, "SIP_UPSTREAM_CA_FILE": str(authority.pem), "SIP_UPSTREAM_TLS_VERIFY": "Chain"})
    assert (s.sip_upstream_ca_file, s.sip_upstream_tls_verify) == (str(authority.pem), "chain")
    assert load_settings(BASE).sip_upstream_tls_verify == "full" and load_settings(BASE).sip_upstream_ca_file is None


@pytest.mark.parametrize(("env", "variable", "problem"), [
    ({"SIP_UPSTREAM_TLS_VERIFY": "strict"}, "SIP_UPSTREAM_TLS_VERIFY", "expected full, chain or none"),
    ({"SIP_UPSTREAM_CA_FILE": "/nonexistent/ca.pem"}, "SIP_UPSTREAM_CA_FILE", "no such file"),
    ({"SIP_UPSTREAM_CA_FILE": "/etc/hostname"}, "SIP_UPSTREAM_CA_FILE", "holds no PEM certificate"),
])
def test_bad_tls_variables_stop_start_up_naming_them(env: dict[str, str], variable: str, problem: str) -> None:
    """A bad mode when parsing; a bad CA file where it is loaded, once, building the app."""
    with pytest.raises(ConfigError) as info:
        create_app(load_settings({**BASE, **env}))
    assert info.value.variable == variable and problem in info.value.problem


# -- against the TLS Kamailio ----------------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.parametrize(("cert", "verify"), [("san", None), ("san", "full"), ("no_san", "chain"),
                                              ("self_signed", "none")])
async def test_an_accepted_certificate_registers_and_is_ready(
        tls_pbx, authority, cert: str, verify: str | None, aiohttp_client, make_settings, stack_env):
    settings = _settings(make_settings, stack_env, tls_pbx.url(cert), verify, authority.pem)
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/readyz")
    assert (await response.json())["checks"]["sip_upstream"] == "ok"
    agent = await registered_agent(client, settings.auth_key_secret, stack_env, new_username())
    await agent.close()


@pytest.mark.stack
@pytest.mark.parametrize(("cert", "verify", "ca", "named"), [
    ("no_san", "full", True, "IP address mismatch"),
    ("self_signed", "full", True, "self-signed certificate"),
    ("self_signed", "chain", True, "self-signed certificate"),
    ("san", "full", False, "unable to get local issuer certificate"),
    ("san", "chain", False, "unable to get local issuer certificate"),
])
async def test_a_refused_certificate_is_named_by_readyz_and_sessions_get_1013(
        tls_pbx, authority, cert: str, verify: str, ca: bool, named: str, aiohttp_client, make_settings, stack_env,
        caplog):
    settings = _settings(make_settings, stack_env, tls_pbx.url(cert), verify, authority.pem if ca else None)
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/readyz")
    reason = (await response.json())["checks"]["sip_upstream"]
    assert response.status == 503
    assert reason.startswith(f"{tls_pbx.url(cert)} unreachable: TLS certificate not accepted") and named in reason
    query = session_query(settings.auth_key_secret, new_username())
    with caplog.at_level(logging.WARNING, logger="service.sip_proxy"):
        async with client.ws_connect(f"/ws?{urlencode(query)}", protocols=("sip",)) as ws:
            msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013
    assert any(named in r.getMessage() for r in caplog.records)


@pytest.mark.stack
async def test_readyz_names_a_plain_server_behind_a_wss_url(aiohttp_client, make_settings, stack_env):
    """TLS spoken to a plain HTTP server (our own test server, which answers the ClientHello with a 400)."""
    other = await aiohttp_client(create_app(make_settings(stack_env)))
    settings = _settings(make_settings, stack_env, f"wss://127.0.0.1:{other.port}/", "none", None)
    client = await aiohttp_client(create_app(settings))
    reason = (await (await client.get("/readyz")).json())["checks"]["sip_upstream"]
    assert "TLS handshake failed" in reason


@pytest.mark.stack
async def test_readyz_names_a_server_that_refuses_the_websocket(aiohttp_client, make_settings, stack_env):
    """Something listens but is no WebSocket server (here: our own HTTP test server)."""
    other = await aiohttp_client(create_app(make_settings(stack_env)))
    settings = _settings(make_settings, stack_env, f"ws://127.0.0.1:{other.port}/healthz", None, None)
    client = await aiohttp_client(create_app(settings))
    reason = (await (await client.get("/readyz")).json())["checks"]["sip_upstream"]
    assert reason.startswith(f"ws://127.0.0.1:{other.port}/healthz: upstream answered 'HTTP/1.1 200")


def test_verify_none_logs_a_warning_at_start_up(make_settings, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="service.sip_proxy"):
        create_app(make_settings({"SIP_UPSTREAM_TLS_VERIFY": "none"}))
    assert any("SIP_UPSTREAM_TLS_VERIFY=none" in r.getMessage() for r in caplog.records)
