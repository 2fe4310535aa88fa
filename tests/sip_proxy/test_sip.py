import contextlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from service.sip_proxy import sip
from service.sip_proxy.sip import SipParseError

REGISTER = (
    b"REGISTER sip:omnisense.local SIP/2.0\r\n"
    b"v: SIP/2.0/WS abc.invalid;branch=z9hG4bK1\r\n"
    b"Via: SIP/2.0/WS  127.0.0.1:8088;branch=z9hG4bK2\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "Agent, One" <sip:1001@omnisense.local>;tag=aa\r\n'
    b"t: <sip:1001@omnisense.local>\r\n"
    b"i: call-1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Subject: folded\r\n"
    b"  across lines\r\n"
    b"l: 5\r\n"
    b"\r\n"
    b"hello"
)


def test_classify_reads_only_the_start_line():
    assert sip.classify(REGISTER) == ("request", b"REGISTER")
    assert sip.classify(b"SIP/2.0 180 Ringing\r\nVia: x\r\n\r\n") == ("response", b"180")
    assert sip.classify(b"SIP/2.0 200\r\n\r\n") == ("response", b"200")
    assert sip.classify(b"\r\n\r\n") == ("keepalive", b"")
    assert sip.classify(b"\r\n") == ("keepalive", b"")


@pytest.mark.parametrize("frame", [
    b"hello world", b"GET / HTTP/1.1\r\n\r\n", b"SIP/2.0 2000 OK\r\n", b"SIP/2.0 700 Nope\r\n",
    b"INVITE sip:a SIP/3.0\r\n", b"INVITE  SIP/2.0\r\n", b"{\"json\": true}", b"INV ITE sip:a b SIP/2.0\r\n",
])
def test_classify_refuses_what_is_not_sip(frame):
    with pytest.raises(SipParseError):
        sip.classify(frame)


def test_parse_expands_compact_headers_unfolds_and_cuts_the_body():
    message = sip.parse(REGISTER)
    assert message.method == "REGISTER" and message.uri == "sip:omnisense.local" and message.is_request
    assert message.get("From") == '"Agent, One" <sip:1001@omnisense.local>;tag=aa'
    assert message.get("f") == message.get("from")
    assert message.get("call-id") == "call-1"
    assert message.get_all("via") == ["SIP/2.0/WS abc.invalid;branch=z9hG4bK1",
                                      "SIP/2.0/WS  127.0.0.1:8088;branch=z9hG4bK2"]
    assert message.get("subject") == "folded across lines"
    assert message.body == b"hello"


def test_parse_a_response_and_a_body_without_content_length():
    message = sip.parse(b"SIP/2.0 486 Busy Here\r\nCall-ID: x\r\n\r\nrest")
    assert (message.status, message.reason, message.method) == (486, "Busy Here", None)
    assert message.body == b"rest"


def test_content_length_counts_bytes():
    body = "é".encode()
    message = sip.parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n" + body)
    assert message.body == body


@pytest.mark.parametrize("data", [
    b"REGISTER sip:a SIP/2.0\r\nFrom: <sip:a@b>\r\n",  # no blank line
    b"REGISTER sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
    b"REGISTER sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n",
    b"REGISTER sip:a SIP/2.0\r\nNo colon here\r\n\r\n",
    b"REGISTER sip:a SIP/2.0\r\n continuation first\r\n\r\n",
    b"REGISTER sip:a SIP/2.0\r\nFrom: a\rInjected: b\r\n\r\n",
    b"SIP/2.0 99 Too low\r\n\r\n",
    b"REGISTER a SIP/2.0\r\n\r\n",
    b"REGISTER sip:a SIP/2.0\r\nFrom: \xff\xfe\r\n\r\n",
])
def test_parse_refuses_broken_messages(data):
    with pytest.raises(SipParseError):
        sip.parse(data)


@pytest.mark.parametrize("value,user", [
    ('"Agent <One>" <sip:1001@host>;tag=x', "1001"),
    ("<sips:1001:secret@host:5061;transport=ws>", "1001"),
    ("sip:1001@host;tag=1", "1001"),
    ("<sip:host>", None),
    ("<sip:agent%2Eone@host>", "agent.one"),
    ('"quoted \\" quote" <sip:1002@h>', "1002"),
])
def test_uri_user(value, user):
    assert sip.uri_user(value) == user


@pytest.mark.parametrize("value", ["<tel:+2712345>", "<sip:1001@host", '"unterminated <sip:a@b>', "<sip:%ff@h>"])
def test_uri_user_refuses_what_it_cannot_read(value):
    with pytest.raises(SipParseError):
        sip.uri_user(value)


def test_forbidden_response_answers_the_request():
    response = sip.parse(sip.forbidden_response(sip.parse(REGISTER)).encode())
    assert (response.status, response.reason) == (403, "Forbidden")
    request = sip.parse(REGISTER)
    assert response.get_all("via") == request.get_all("via")
    for name in ("from", "call-id", "cseq"):
        assert response.get(name) == request.get(name)
    to = response.get("to")
    assert to is not None and to.startswith("<sip:1001@omnisense.local>;tag=")
    assert response.get("content-length") == "0"


def test_forbidden_response_keeps_an_existing_to_tag_and_needs_the_headers():
    request = sip.parse(b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/WS x;branch=1\r\nFrom: <sip:a@h>;tag=1\r\n"
                        b"To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n\r\n")
    assert sip.parse(sip.forbidden_response(request).encode()).get("to") == "<sip:b@h>;tag=2"
    with pytest.raises(SipParseError):
        sip.forbidden_response(sip.parse(b"INVITE sip:b@h SIP/2.0\r\nFrom: <sip:a@h>\r\n\r\n"))


# -- fuzzing: only SipParseError may come out -----------------------------------------------------------

def _only_parse_errors(data: bytes) -> None:
    for call in (sip.classify, sip.parse):
        with contextlib.suppress(SipParseError):
            call(data)
    try:
        message = sip.parse(data)
        for name in ("from", "to"):
            value = message.get(name)
            if value is not None:
                sip.uri_user(value)
        if message.is_request:
            sip.forbidden_response(message)
    except SipParseError:
        pass


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_garbage_bytes(data):
    _only_parse_errors(data)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("SIP/2.0 :;<>@\"\\\r\n\t%abcdefFtTlivm0123456789")), max_size=600))
def test_fuzz_sip_like_text(text):
    _only_parse_errors(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=len(REGISTER)), st.binary(max_size=16))
def test_fuzz_truncated_and_spliced_messages(cut, tail):
    _only_parse_errors(REGISTER[:cut] + tail)


@settings(max_examples=20)
@given(st.integers(min_value=64 * 1024, max_value=2 * 1024 * 1024),
       st.sampled_from([b"a", b"\r\n", b"x: y\r\n", b"\x00"]))
def test_fuzz_huge_inputs(size, unit):
    _only_parse_errors(b"REGISTER sip:a SIP/2.0\r\n" + unit * (size // len(unit)))
    _only_parse_errors(unit * (size // len(unit)))


def test_identity_users_finds_every_from_and_to_in_any_spelling():
    froms, tos = sip.identity_users(REGISTER.replace(b"Subject: folded\r\n  across lines\r\n", b""))
    assert (froms, tos) == (["1001"], ["1001"])
    froms, tos = sip.identity_users(
        b"INVITE sip:a@b SIP/2.0\r\nFROM : <sip:x@h>\r\nf:<sip:y@h>\r\nt: sip:z@h\r\nTo-Tag-Ish: 1\r\n\r\n"
        b"f: <sip:body@h>")
    assert (froms, tos) == (["x", "y"], ["z"])  # the body's "f:" line is not a header


def test_identity_users_refuses_a_folded_from_or_to():
    with pytest.raises(SipParseError):
        sip.identity_users(b"INVITE sip:a@b SIP/2.0\r\nFrom: sip:1001@h\r\n <sip:1002@h>\r\nTo: <sip:a@b>\r\n\r\n")
    with pytest.raises(SipParseError):
        sip.identity_users(b"INVITE sip:a@b SIP/2.0\r\nFrom: <sip:a@h>\r\nt: <sip:b@h>\n\t;tag=1\r\nX: y\r\n\r\n")
    # Folding elsewhere does not matter to the identity, and consecutive From/To lines are all seen.
    froms, tos = sip.identity_users(
        b"INVITE sip:a@b SIP/2.0\r\nSubject: a\r\n b\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\n\r\n")
    assert (froms, tos) == (["a"], ["b"])


@settings(max_examples=300)
@given(st.binary(max_size=1024))
def test_fuzz_identity_users(data):
    with contextlib.suppress(SipParseError):
        sip.identity_users(data)


_PIECE = st.text(alphabet=st.sampled_from(list("<>\"@:;=%~!$&'()*+,ab1.- ")), max_size=8)


@settings(max_examples=500)
@given(st.sampled_from(["sip", "sips", "SIP", "tel"]), _PIECE, _PIECE, _PIECE, st.sampled_from([0, 300]))
def test_the_fast_from_user_path_agrees_with_uri_user(scheme, user, host, tail, padding):
    # header_user takes a fast path for the usual <sip:user@host> form and uri_user's for the rest; values of
    # usual size are cached, long ones (the padding) are not.
    value = f"<{scheme}:{user}@{host}>{tail}" + (f";x={'a' * padding}" if padding else "")
    slow: str | type[SipParseError] | None
    fast: str | type[SipParseError] | None
    try:
        slow = sip.uri_user(value)
    except SipParseError:
        slow = SipParseError
    try:
        fast = sip.header_user(value.encode())
    except SipParseError:
        fast = SipParseError
    assert fast == slow


@pytest.mark.parametrize(("head", "reason"), [
    (b"MESSAGE sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\r\n\r\n", None),
    (b"MESSAGE sip:a@h SIP/2.0\r\nX: 1\rFrom: <sip:b@h>\r\n\r\n", "bare CR"),
    (b"MESSAGE sip:a@h SIP/2.0\nFrom: <sip:a@h>\r\n\r\n", "bare LF"),
    (b"MESSAGE sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\x00\r\n\r\n", "NUL in the headers"),
    (b"MESSAGE sip:a@h SIP/2.0\r\nFrom:\r\n\t<sip:a@h>\r\n\r\n", "obsolete line folding"),
    (b"MESSAGE sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\n\n", "no CRLF CRLF after the headers"),
    (b"MESSAGE sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\r\n\r\nbody\rwith\nbare\x00ends", None),  # the body is its own
])
def test_framing_error_names_what_the_pbx_could_read_differently(head, reason):
    assert sip.framing_error(head) == reason


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_but_cr_lf_and_nul_may_be_in_a_line_and_any_but_those_sp_and_ht_may_start_one(byte):
    char = bytes([byte])
    inside = b"MESSAGE sip:a@h SIP/2.0\r\nX: a" + char + b"b\r\n\r\n"
    first = b"MESSAGE sip:a@h SIP/2.0\r\n" + char + b"X: a\r\n\r\n"
    assert (sip.framing_error(inside) is None) == (char not in (b"\r", b"\n", b"\x00"))
    assert (sip.framing_error(first) is None) == (char not in (b"\r", b"\n", b"\x00", b" ", b"\t"))
    assert (sip.framing_error(char + b"X: a\r\n\r\n") is None) == (char not in (b"\r", b"\n", b"\x00", b" ", b"\t"))


def register_contacts(frame: bytes) -> tuple[frozenset[str], frozenset[str], bool]:
    return sip.contact_changes(*sip.register_headers(frame)[2:])


def test_register_contacts_reads_what_a_register_binds_and_removes():
    register = (b"REGISTER sip:h SIP/2.0\r\nContact: <sip:a@x.invalid;transport=ws>;expires=600, "
                b'"B, c" <sip:b@10.0.0.1>\r\nm: <sip:c@y.INVALID>;expires=0\r\nContent-Length: 0\r\n\r\n')
    adds, removes, everything = register_contacts(register)
    assert adds == {"sip:a@x.invalid;transport=ws"}  # only the .invalid ones are of use to the relay
    assert removes == {"sip:c@y.INVALID"} and not everything
    assert register_contacts(b"REGISTER sip:h SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n")[2]
    assert register_contacts(b"REGISTER sip:h SIP/2.0\r\nContact: <sip:a@x.invalid>\r\nexpires:\t0 \r\n\r\n")[1] \
        == {"sip:a@x.invalid"}  # Expires: 0 in any case, after any blanks


@pytest.mark.parametrize("head", [
    b"REGISTER sip:h SIP/2.0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:a@h>\r\n",
    b"REGISTER sip:h SIP/2.0\r\nf: <sip:a@h>;tag=1\r\nt:<sip:b@h>\r\nFROM : <sip:c@h>\r\n",
    b"REGISTER sip:h SIP/2.0\r\nfrom: <sip:a@h>\r\nTO:\t<sip:a@h> \r\nMax-Forwards: 70\r\nContent-Type: x\r\n",
])
def test_register_headers_finds_from_and_to_as_identity_headers_does(head):
    frame = head + b"Contact: <sip:a@x.invalid>\r\nExpires: 600\r\nEvent: x\r\n\r\n"
    froms, tos, contacts, expires = sip.register_headers(frame)
    assert (froms, tos) == sip.identity_headers(frame)
    assert contacts == (b"<sip:a@x.invalid>",) and expires == b"600"


def test_register_headers_reads_every_contact_the_first_expires_and_refuses_a_folded_from():
    frame = (b"REGISTER sip:h SIP/2.0\r\nFrom: <sip:a@h>\r\nTo: <sip:a@h>\r\nCONTACT:  <sip:a@x.invalid> \r\n"
             b"m: <sip:b@y.invalid>\r\nExpires: 0abc\r\nexpires: 600\r\n\r\nContact: <sip:body@z>\r\n")
    assert sip.register_headers(frame)[2:] == ((b"<sip:a@x.invalid> ", b"<sip:b@y.invalid>"), b"0")
    assert sip.register_headers(b"REGISTER sip:h SIP/2.0\r\nTo: <sip:a@h>\r\n\r\n")[3] is None
    with pytest.raises(sip.SipParseError):
        sip.register_headers(b"REGISTER sip:h SIP/2.0\r\nFrom: <sip:a@h>\r\n\t;tag=x\r\nTo: <sip:a@h>\r\n\r\n")


def test_dialog_identifiers_are_read_from_the_raw_message():
    message = b"INFO sip:x SIP/2.0\r\ni: abc@h \r\nCSeq: 4 info\r\n\r\n"
    assert sip.call_id(message) == b"abc@h" and sip.cseq_method(message) == b"INFO"
    assert sip.tag_of(b"<sip:a@h;tag=inside>;tag=outside") == b"outside" and sip.tag_of(b"<sip:a@h;tag=x>") is None
    assert sip.uri_host("sip:u@Host.Invalid:5060;transport=ws") == "host.invalid"
