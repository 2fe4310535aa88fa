"""What `make run` sets up for the demo without running it: the agent screen's demo phone and PBX, and the
service's settings for the stack's Asterisk."""

from __future__ import annotations

from devstack import agent_screen, asterisk, asterisk_certs, demo, kamailio

CA = str(asterisk_certs.paths(asterisk.KEYS_DIR).ca)


def test_the_agent_screen_s_phone_is_its_own_and_one_asterisk_knows() -> None:
    assert agent_screen.DEMO_EXTENSION not in demo.DEMO_AGENTS  # one SIP contact each: no stolen calls
    assert agent_screen.DEMO_EXTENSION in asterisk.DEMO_AGENTS


def test_with_asterisk_the_demo_phone_enters_a_confbridge_room_over_wss() -> None:
    pbx = agent_screen.demo_pbx(kamailio.DEFAULT_URL, asterisk.CHAN_SIP.wss_url)
    assert pbx == agent_screen.DemoPbx("wss://127.0.0.1:8189/ws", "CONFBRIDGE", agent_screen.DEMO_ROOM)


def test_without_asterisk_the_demo_phone_stays_on_kamailio_in_a_meetme_number() -> None:
    assert agent_screen.demo_pbx(kamailio.DEFAULT_URL, None) == agent_screen.DemoPbx(
        kamailio.DEFAULT_URL, "MEETME", "8600051")


def test_the_stack_s_kamailio_as_upstream_is_replaced_by_asterisk_with_its_ca() -> None:
    assert demo.asterisk_upstream({"SIP_UPSTREAM": kamailio.DEFAULT_URL + "/"}) == {
        "SIP_UPSTREAM": asterisk.CHAN_SIP.wss_url, "SIP_UPSTREAM_TLS_VERIFY": "chain", "SIP_UPSTREAM_CA_FILE": CA}


def test_another_upstream_stands_but_gets_the_ca_the_demo_phone_s_wss_needs() -> None:
    assert demo.asterisk_upstream({"SIP_UPSTREAM": "vicidial"}) == {
        "SIP_UPSTREAM_TLS_VERIFY": "chain", "SIP_UPSTREAM_CA_FILE": CA}


def test_tls_settings_of_the_environment_s_own_and_a_wss_upstream_of_its_own_stand() -> None:
    assert demo.asterisk_upstream({"SIP_UPSTREAM": "vicidial", "SIP_UPSTREAM_TLS_VERIFY": "full"}) == {}
    assert demo.asterisk_upstream({"SIP_UPSTREAM": "wss://pbx.example.com:8089/ws"}) == {}
