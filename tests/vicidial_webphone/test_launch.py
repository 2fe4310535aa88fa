"""The launch query as vicidial.php builds it (PHP base64, not URL-encoded) and ViciPhone's options."""

from __future__ import annotations

import base64

import pytest

from service.vicidial_webphone.launch import (
    LaunchError,
    Options,
    conference_number,
    parse_launch,
    parse_options,
    parse_settings,
    same_query,
)

# The default settings container as vicidial.php copies it: comments dropped, lines joined by backslash-n.
DEFAULT_SETTINGS = r"autoGain:0\nechoCan:0\nnoiseSup:0\ndialRegExten:1\nprogReg:na\nlangRegistered:Registered"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def php_query(**values: str) -> str:
    """vicidial.php's query: each value base64 and concatenated as is (not URL-encoded), phone_login twice."""
    v = {"phone_login": "1001", "phone_pass": "s3cret", "server_ip": "10.0.0.5", "callerid": "0000000000",
         "protocol": "SIP", "codecs": "ulaw,alaw", "options": "INITIAL_LOAD--AUTOANSWER_Y", "system_key": "",
         **values}
    login = b64(v["phone_login"])
    return (f"phone_login={login}&phone_login={login}&phone_pass={b64(v['phone_pass'])}"
            f"&server_ip={b64(v['server_ip'])}&callerid={b64(v['callerid'])}&protocol={b64(v['protocol'])}"
            f"&codecs={b64(v['codecs'])}&options={b64(v['options'])}&system_key={b64(v['system_key'])}")


# Chosen so their base64 holds "+" and "/" ("~~~>" encodes to "fn5+Pg==", ">>>?" to "Pj4+Pw==").
PLUS_PASS = "~~~>pass>>>?"


def test_a_launch_as_vicidial_php_builds_it() -> None:
    launch = parse_launch(php_query())
    assert (launch.phone_login, launch.phone_pass, launch.server_ip, launch.protocol) == (
        "1001", "s3cret", "10.0.0.5", "SIP")
    assert launch.codecs == "ulaw,alaw" and launch.system_key == ""
    assert "s3cret" not in repr(launch)


def test_a_plus_that_arrived_as_a_space_is_restored() -> None:
    assert "+" in b64(PLUS_PASS)
    raw = php_query(phone_pass=PLUS_PASS)
    assert parse_launch(raw).phone_pass == PLUS_PASS  # "+" sent as is
    assert parse_launch(raw.replace("+", "%20")).phone_pass == PLUS_PASS  # as a space, after decoding
    assert parse_launch(raw.replace("+", "%2B")).phone_pass == PLUS_PASS  # URL-encoded after all


@pytest.mark.parametrize("raw, problem", [
    ("", "missing"),
    (php_query().replace("&system_key=", "&other="), "missing: system_key"),
    (php_query().replace("phone_pass=", "phone_pass=@@"), "phone_pass is not base64"),
    (php_query().replace(f"phone_pass={b64('s3cret')}", "phone_pass=czNjcmV"), "phone_pass is not base64"),
    (php_query() + "&protocol=" + b64("IAX2"), "protocol is given more than once"),
    (php_query().replace(f"phone_login={b64('1001')}&", f"phone_login={b64('1002')}&", 1), "phone_login is given"),
    (php_query(phone_login=""), "empty: phone_login"),
    (php_query(phone_pass="a\nb"), "line break"),
    (php_query().replace(f"codecs={b64('ulaw,alaw')}", "codecs=" + base64.b64encode(b"\xff\xfe").decode()), "UTF-8"),
])
def test_what_is_not_a_launch(raw: str, problem: str) -> None:
    with pytest.raises(LaunchError, match=problem):
        parse_launch(raw)


def test_same_query_ignores_order_and_the_spelling_of_plus() -> None:
    raw = php_query(phone_pass=PLUS_PASS)
    reordered = "&".join(reversed(raw.split("&")))
    assert same_query(raw, reordered.replace("+", "%20"))
    assert not same_query(raw, php_query(phone_pass="other"))


def test_options_defaults_and_every_token() -> None:
    assert parse_options("INITIAL_LOAD") == Options()
    options = parse_options(
        "INITIAL_LOAD--DIALPAD_OFF_TOGGLE--AUTOANSWER_Y--DIALBOX_N--MUTE_N--VOLUME_N--DEBUG"
        "--WEBSOCKETURLwss://evil.example:8089/ws--WEBPHONELAYOUTwide--SESSION8600051--SOMETHING_NEW"
        f"--SETTINGS{DEFAULT_SETTINGS}")
    assert options == Options(dialpad="toggle-hidden", auto_answer=True, mute=False, volume=False, dialbox=False,
                              debug=True, session="8600051", auto_gain=False, echo_cancellation=False,
                              noise_suppression=False, dial_reg_exten=True)
    assert "evil" not in repr(options.page())


@pytest.mark.parametrize("token, shown", [("DIALPAD_Y", "shown"), ("DIALPAD_N", "hidden"),
                                          ("DIALPAD_TOGGLE", "toggle-shown"), ("DIALPAD_OFF_TOGGLE", "toggle-hidden")])
def test_dialpad_tokens(token: str, shown: str) -> None:
    assert parse_options(f"INITIAL_LOAD--{token}").dialpad == shown


def test_auto_answer_is_off_unless_asked() -> None:
    assert parse_options("INITIAL_LOAD--AUTOANSWER_N").auto_answer is False
    assert parse_options("INITIAL_LOAD--AUTOANSWER_Y").auto_answer is True


def test_settings_lines() -> None:
    assert parse_settings('autoGain: 1\\nechoCan :0\\n# a comment: no\\nlangX:"Hi: there"') == {
        "autoGain": "1", "echoCan": "0", "langX": "Hi: there"}
    options = parse_options(r"INITIAL_LOAD--SETTINGSautoGain: 1\nechoCan: 1\nnoiseSup: 1\ndialRegExten: 0")
    assert (options.auto_gain, options.echo_cancellation, options.noise_suppression) == (True, True, True)
    assert options.dial_reg_exten is False


def test_the_conference_dialled_once_registered() -> None:
    joined = parse_options(f"INITIAL_LOAD--SESSION9600012--SETTINGS{DEFAULT_SETTINGS}")
    assert conference_number(joined, "CONFBRIDGE") == "29600012"  # ConfBridge's agent entry
    assert conference_number(joined, "MEETME") == "9600012"
    assert conference_number(parse_options("INITIAL_LOAD--SESSION8600051"), "MEETME") is None  # no dialRegExten
    assert conference_number(parse_options(f"INITIAL_LOAD--SETTINGS{DEFAULT_SETTINGS}"), "MEETME") is None
