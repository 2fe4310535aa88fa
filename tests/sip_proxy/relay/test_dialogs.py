"""The per-agent dialog tables: what confirms, what ends, and the bounds on memory."""

from __future__ import annotations

from service.sip_proxy.relay.dialogs import MAX_DIALOGS, AgentDialogs, DialogRegistry

URI = "sip:a@b.invalid"


def test_an_offer_counts_only_once_the_agent_answered_with_a_tag():
    dialogs = AgentDialogs()
    dialogs.offer(b"c", b"INVITE", b"pbx", URI)
    assert not dialogs.holds(b"c", None, b"pbx", URI)
    dialogs.answered(b"c", b"INVITE", 180, None)  # no tag: no early dialog
    assert not dialogs.confirmed
    dialogs.answered(b"c", b"SUBSCRIBE", 200, b"agt")  # another transaction's answer
    assert not dialogs.confirmed
    dialogs.answered(b"c", b"INVITE", 200, b"agt")
    assert dialogs.holds(b"c", b"agt", b"pbx", URI) and not dialogs.offered


def test_each_table_keeps_the_newest_dialogs_only():
    dialogs = AgentDialogs()
    for i in range(MAX_DIALOGS + 5):
        dialogs.offer(str(i).encode(), b"INVITE", b"pbx", URI)
        dialogs.answered(str(i).encode(), b"INVITE", 200, b"agt")
    assert len(dialogs.confirmed) == MAX_DIALOGS and not dialogs.offered
    assert not dialogs.holds(b"0", b"agt", b"pbx", URI)
    assert dialogs.holds(str(MAX_DIALOGS + 4).encode(), b"agt", b"pbx", URI)


def test_the_registry_shares_one_table_per_agent_and_forgets_the_least_recent():
    registry = DialogRegistry(max_agents=2)
    first = registry.agent(1, "1001")
    assert registry.agent(1, "1001") is first
    assert registry.agent(2, "1001") is not first  # another customer's 1001
    registry.agent(1, "1001")  # seen again: now the most recent
    registry.agent(1, "1002")
    assert len(registry) == 2 and registry.agent(1, "1001") is first
