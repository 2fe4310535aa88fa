"""The decisions on the rows each check reads: exact comparisons, reasons, the launch token, the login poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.vicidial_webphone import checks, tokens
from service.vicidial_webphone.launch import Launch, Options
from service.vicidial_webphone.logins import Login, Logins

LAUNCH = Launch(phone_login="1001", phone_pass="pw", server_ip="10.0.0.5", callerid="", protocol="SIP", codecs="",
                options="", system_key="")


def phone_row(extension: str = "1001", server_ip: str = "10.0.0.5", kind: str = "Y", secret: str = "pw",
              external: str = "", engine: str = "MEETME") -> checks.PhoneRow:
    return (extension, server_ip, kind, secret, "SIP", external, engine)


def test_the_phone_is_found_exactly() -> None:
    phone = checks.decide_phone(LAUNCH, [phone_row()])
    assert phone == checks.Phone("1001", "10.0.0.5", "SIP", "MEETME")
    # The database's collation matched these; the check does not.
    for row in (phone_row("1001 "), phone_row("1001".upper() + "a"), phone_row(server_ip="10.0.0.6")):
        refusal = checks.decide_phone(LAUNCH, [row])
        assert isinstance(refusal, checks.Refusal) and refusal.reason == "unknown_phone"
    case = checks.decide_phone(Launch("ab", "pw", "10.0.0.5", "", "SIP", "", "", ""), [phone_row("AB")])
    assert isinstance(case, checks.Refusal) and case.reason == "unknown_phone"


def test_the_external_address_of_the_phones_server_counts() -> None:
    launch = Launch("1001", "pw", "203.0.113.9", "", "SIP", "", "", "")
    assert isinstance(checks.decide_phone(launch, [phone_row(external="203.0.113.9")]), checks.Phone)


def test_several_servers_rows_of_one_phone_are_one_phone_but_two_phones_are_ambiguous() -> None:
    assert isinstance(checks.decide_phone(LAUNCH, [phone_row(), phone_row(external="x")]), checks.Phone)
    launch = Launch("1001", "pw", "203.0.113.9", "", "SIP", "", "", "")
    two = [phone_row(external="203.0.113.9"), phone_row(server_ip="10.0.0.6", external="203.0.113.9")]
    refusal = checks.decide_phone(launch, two)
    assert isinstance(refusal, checks.Refusal) and refusal.reason == "unknown_phone" and "several" in refusal.message


@pytest.mark.parametrize("row, reason", [
    (phone_row(kind="N"), "not_a_webphone"),
    (phone_row(kind="Y_API_LAUNCH", secret="other"), "bad_phone_pass"),
    (phone_row(secret="pw "), "bad_phone_pass"),
])
def test_phone_refusals(row: checks.PhoneRow, reason: str) -> None:
    refusal = checks.decide_phone(LAUNCH, [row])
    assert isinstance(refusal, checks.Refusal) and refusal.reason == reason and refusal.status == 403


PHONE = checks.Phone("1001", "10.0.0.5", "SIP", "CONFBRIDGE")


def test_the_live_agent() -> None:
    rows = [(7, "agent1", "SIP/1001", "9600012", "10.0.0.5", 1), (9, "agent1", "SIP/1001", "9600013", "10.0.0.5", 1)]
    assert checks.decide_agent(PHONE, Options(session="9600012"), rows) == checks.Agent(7, "agent1", "9600012",
                                                                                        "10.0.0.5")
    assert checks.decide_agent(PHONE, Options(), rows) == checks.Agent(9, "agent1", "9600013", "10.0.0.5")
    for bad_rows, options in (([(7, "a", "SIP/1001", "9600012", "x", 0)], Options()),  # stale
                              ([(7, "a", "sip/1001", "9600012", "x", 1)], Options()),  # not exactly
                              (rows, Options(session="9600099")),  # another conference
                              ([], Options())):
        refusal = checks.decide_agent(PHONE, options, bad_rows)
        assert isinstance(refusal, checks.Refusal) and refusal.reason == "agent_not_logged_in"


def test_the_stored_webphone_url() -> None:
    query = "phone_login=MTAwMQ==&phone_pass=fn5+Pg=="
    assert checks.decide_session_data(PHONE, query, []) is None
    assert checks.decide_session_data(PHONE, query, [("1001", f"https://gw/vicidial/webphone?{query}")]) is None
    assert checks.decide_session_data(PHONE, query.replace("+", "%20"),
                                      [("1001", f"https://gw/vicidial/webphone?{query}")]) is None
    assert checks.decide_session_data(PHONE, query, [("1002", "https://gw/vicidial/webphone?other=1")]) is None
    stale = checks.decide_session_data(PHONE, query, [("1001", "https://gw/vicidial/webphone?phone_login=MTAwMQ==")])
    assert stale is not None and stale.reason == "stale_launch"


def test_system_key() -> None:
    assert checks.system_key_ok(None, "anything")
    assert checks.system_key_ok("k", "k")
    assert not checks.system_key_ok("k", "K")


def test_the_poll_is_one_statement_for_every_session() -> None:
    sql = checks.live_agents_sql(3)
    assert sql.count("%s") == 4 and "IN (%s, %s, %s)" in sql


GRANT = tokens.Grant(live_agent_id=7, user="agent1", extension="1001", server_ip="10.0.0.5",
                     expire_date="2026-12-07T22:00:00Z", conference="29600012", options={"autoAnswer": True})


def test_a_launch_token_is_used_once_and_dies_within_two_minutes() -> None:
    cache = tokens.ReplayCache()
    token = tokens.mint("s" * 32, GRANT, now=1000.0)
    assert "pw" not in token
    assert tokens.redeem("s" * 32, token, 1001.0, cache) == GRANT
    with pytest.raises(tokens.TokenError) as used:
        tokens.redeem("s" * 32, token, 1002.0, cache)
    assert used.value.reason == "launch_token_used"
    late = tokens.mint("s" * 32, GRANT, now=1000.0)
    with pytest.raises(tokens.TokenError) as expired:
        tokens.redeem("s" * 32, late, 1000.0 + tokens.TOKEN_SECONDS, tokens.ReplayCache())
    assert expired.value.reason == "launch_token_expired" and tokens.TOKEN_SECONDS <= 120


@pytest.mark.parametrize("mangle", [lambda t: t + "x", lambda t: "x" + t, lambda t: t.replace(".", ""),
                                    lambda t: t[:-4], lambda t: "%%%.%%%"])
def test_a_token_not_ours_is_refused(mangle) -> None:
    token = mangle(tokens.mint("s" * 32, GRANT, now=1000.0))
    with pytest.raises(tokens.TokenError) as refused:
        tokens.redeem("s" * 32, token, 1001.0, tokens.ReplayCache())
    assert refused.value.reason == "bad_launch_token"
    with pytest.raises(tokens.TokenError):
        tokens.redeem("t" * 32, tokens.mint("s" * 32, GRANT, now=1000.0), 1001.0, tokens.ReplayCache())


def test_the_replay_cache_stays_bounded() -> None:
    cache = tokens.ReplayCache(max_entries=3)
    for i in range(10):
        assert cache.use(f"n{i}", expires=float(i), now=float(i))
    assert len(cache) <= 3


T0 = datetime(2026, 12, 7, 8, tzinfo=UTC)


def login(live_id: int, user: str, extension: str, minutes: int) -> Login[str]:
    return Login(live_id, user, extension, T0 + timedelta(minutes=minutes), f"{user}-{minutes}")


def test_a_newer_launch_replaces_the_older_and_an_older_one_is_refused() -> None:
    logins: Logins[str] = Logins()
    first = login(7, "agent1", "1001", 0)
    assert logins.attach(first) == []
    newer = login(8, "agent1", "1002", 5)
    assert logins.attach(newer) == [first]
    assert logins.newer_open(login(7, "agent1", "1001", 0))
    assert logins.attach(login(7, "other", "1002", 1)) is None  # same phone, older launch
    assert logins.attach(login(9, "agent2", "1003", 0)) == []  # another agent


def test_the_poll_ends_sessions_whose_row_is_gone_or_stale() -> None:
    logins: Logins[str] = Logins()
    gone, stale, live = login(7, "a", "1", 0), login(8, "b", "2", 0), login(9, "c", "3", 0)
    for one in (gone, stale, live):
        logins.attach(one)
    assert logins.live_agent_ids() == [7, 8, 9]
    assert logins.ended([(8, 0), (9, 1)]) == [gone, stale]
