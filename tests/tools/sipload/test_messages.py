"""The REGISTER the load tester, the benchmarks and the relay tests send: one builder, parsed by the relay's parser."""

from __future__ import annotations

from service.sip_proxy import sip
from tools.sipload import messages


def test_a_register_is_a_whole_message_the_relay_reads_as_the_user() -> None:
    text = messages.register(username="1001", host="abc.invalid", branch="z9hG4bK1", call_id="c1", from_tag="t",
                             cseq=3, expires=300)
    message = sip.parse(text.encode())
    assert (message.method, message.uri) == ("REGISTER", "sip:omnisense.local")
    assert message.get("via") == "SIP/2.0/WS abc.invalid;branch=z9hG4bK1"
    assert (message.get("call-id"), message.get("cseq"), message.get("expires")) == ("c1", "3 REGISTER", "300")
    assert message.get("contact") == "<sip:1001@abc.invalid;transport=ws>;expires=300"
    assert message.get("authorization") is None and message.get("content-length") == "0"
    assert text.endswith("\r\n\r\n")
    assert sip.identity_users(text.encode()) == (["1001"], ["1001"])


def test_credentials_a_contact_and_a_domain_are_written_when_given() -> None:
    text = messages.register(username="a", host="h.invalid", branch="z9hG4bK2", call_id="c", from_tag="t",
                             domain="pbx.example", contact="<sip:x@h.invalid;transport=ws>",
                             authorization='Digest username="a"')
    message = sip.parse(text.encode())
    assert message.uri == "sip:pbx.example" and message.get("to") == "<sip:a@pbx.example>"
    assert message.get("contact") == "<sip:x@h.invalid;transport=ws>;expires=600"
    assert message.get("authorization") == 'Digest username="a"'
