"""coturn_cli's reading of coturn 4.6's CLI output, on output captured from the local stack's coturn."""

from __future__ import annotations

import socket

import pytest

from service.sip_proxy.coturn_cli import CoturnCli, CoturnCliError, CoturnSession, banner_version, parse_sessions

BANNER = b"TURN Server\r\nCoturn-4.6.1 'Gorst'\r\n\r\nType '?' for help\r\nEnter password: \r\n"

PS = (
    "\r\n    1) id=000000000000000002, user <1796156891:1:1001:1796156891>:\r\n      realm: omnisense.local\r\n"
    "      started 2 secs ago\r\n      expiring in 598 secs\r\n      client protocol UDP, relay protocol UDP\r\n"
    "      client addr 127.0.0.1:55591, server addr 127.0.0.1:23478\r\n      relay addr 127.0.0.1:49149\r\n"
    "      fingerprints enforced: ON\r\n      mobile: OFF\r\n      usage: rp=3, rb=304, sp=2, sb=220\r\n"
    "       rate: r=0, s=0, total=0 (bytes per sec)\r\n      peers:\r\n          127.0.0.1:60461\r\n\r\n"
    "    2) id=001000000000000001, user <x> y>:\r\n      realm: omnisense.local\r\n\r\n"
    "  Total sessions: 2\r\n\r\n> "
)


def test_the_banner_names_the_version():
    assert banner_version(BANNER) == (4, 6, 1)
    assert banner_version(b"Enter password: ") is None


def test_ps_output_lists_each_session_id_and_user():
    sessions, truncated = parse_sessions(PS)
    assert sessions == [CoturnSession("000000000000000002", "1796156891:1:1001:1796156891"),
                        CoturnSession("001000000000000001", "x> y")]
    assert not truncated


def test_ps_output_cut_at_cli_max_output_sessions_says_so():
    cut = PS.replace("  Total sessions: 2", "...\r\n\r\n  Total sessions: 300")
    assert parse_sessions(cut)[1]
    assert parse_sessions("\r\n  Total sessions: 0\r\n\r\n> ") == ([], False)


@pytest.mark.stack
async def test_the_local_coturn_answers_its_cli(relay_settings):
    host, port = relay_settings.turn_cli
    cli = await CoturnCli.open(host, port, relay_settings.turn_cli_password)
    try:
        sessions, truncated = await cli.sessions()
        assert all(s.id.isdigit() and len(s.id) == 18 for s in sessions) and not truncated
        assert (await cli.sessions("no-such-user:1:2:3"))[0] == []
    finally:
        cli.close()


@pytest.mark.stack
async def test_a_wrong_cli_password_or_a_closed_port_is_a_cli_error(relay_settings):
    host, port = relay_settings.turn_cli
    with pytest.raises(CoturnCliError, match="refused TURN_CLI_PASSWORD"):
        await CoturnCli.open(host, port, "not-the-password")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    with pytest.raises(CoturnCliError, match="unreachable"):
        await CoturnCli.open("127.0.0.1", closed, "x")
