"""Request validation, pure: the documented messages in the documented order, and unreadable bodies."""

from __future__ import annotations

import json

import pytest

from service.archive.errors import InvalidRequest, UnreadableBody
from service.archive.request import ArchiveRequest, parse_request


def raw(**fields) -> bytes:
    return json.dumps(fields).encode()


VALID = {"insert_leads": True, "update_leads": False, "delete_leads": True}


def test_valid_request() -> None:
    assert parse_request(raw(**VALID, lead_ids=[3, 1, 2])) == ArchiveRequest(True, False, True, (3, 1, 2))


def test_example_body_with_spaces_is_valid() -> None:
    parsed = parse_request(
        b'{ "insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": [ 0, 1 ] }')
    assert parsed.lead_ids == (0, 1)


@pytest.mark.parametrize("flag", ["insert_leads", "update_leads", "delete_leads"])
@pytest.mark.parametrize("value", ["true", 1, 0, None, [], {}, "missing"])
def test_flags_must_be_booleans(flag, value) -> None:
    fields = {**VALID, "lead_ids": [1]}
    if value == "missing":
        del fields[flag]
    else:
        fields[flag] = value
    with pytest.raises(InvalidRequest) as caught:
        parse_request(raw(**fields))
    assert caught.value.body() == {"message": f"{flag} must be a boolean value", "lead_errors": 0, "lead_ids": []}
    assert caught.value.status == 400


@pytest.mark.parametrize("lead_ids, bad", [
    (["0"], ["0"]),
    ([1, 7.0, 2], [7.0]),
    ([True, False], [True, False]),
    ([None, [], {}, "7"], [None, [], {}, "7"]),
    ("1,2", ["1,2"]),
    (5, [5]),
    ({"a": 1}, [{"a": 1}]),
])
def test_lead_ids_must_be_json_integers_reported_as_given(lead_ids, bad) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(raw(**VALID, lead_ids=lead_ids))
    assert caught.value.body() == {"message": "lead_ids must only contain integer values",
                                   "lead_errors": len(bad), "lead_ids": bad}


@pytest.mark.parametrize("fields", [{**VALID}, {**VALID, "lead_ids": None}, {**VALID, "lead_ids": []}])
def test_lead_ids_must_not_be_empty(fields) -> None:
    with pytest.raises(InvalidRequest, match=r"^lead_ids must contain atleast 1 value$"):
        parse_request(raw(**fields))


def test_at_most_500_lead_ids() -> None:
    assert len(parse_request(raw(**VALID, lead_ids=list(range(500)))).lead_ids) == 500
    with pytest.raises(InvalidRequest) as caught:
        parse_request(raw(**VALID, lead_ids=list(range(501))))
    assert caught.value.body() == {"message": "lead_ids cannot exceed 500 values", "lead_errors": 0, "lead_ids": []}


def test_duplicates_are_listed_once_each() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(raw(**VALID, lead_ids=[5, 0, 5, 0, 5, 9]))
    assert caught.value.body() == {"message": "lead_ids cannot contain duplicate values",
                                   "lead_errors": 2, "lead_ids": [5, 0]}


def test_negative_and_huge_integers_are_valid_here() -> None:
    # They are integers: the database later says they "do not exist".
    assert parse_request(raw(**VALID, lead_ids=[-1, 2**80])).lead_ids == (-1, 2**80)


def test_type_errors_come_before_count_errors() -> None:
    with pytest.raises(InvalidRequest, match="integer"):
        parse_request(raw(**VALID, lead_ids=[*range(600), "x"]))


@pytest.mark.parametrize("body, message", [
    (b"", "request body is empty"),
    (b"   \n", "request body is empty"),
    (b"[1]", "request body must be a JSON object, got an array at line 1, position 1"),
    (b"\n 7", "request body must be a JSON object, got a number at line 2, position 2"),
    (b"null", "request body must be a JSON object, got null at line 1, position 1"),
    (b'{"a": 1,}', "request body is not valid JSON: Expecting property name enclosed in double quotes at line 1,"
                   " position 9 (found '}')"),
    (b'{"lead_ids": [1, 2,\n 3 s]}', "request body is not valid JSON: Expecting ',' delimiter at line 2,"
                                     " position 4 (found 's')"),
    (b'{"x": "NaN", "lead_ids": [Infinity]}', "request body is not valid JSON: Infinity is not a JSON value at"
                                              " line 1, position 27"),
    (b'{"a": \xff}', "request body is not UTF-8 text: byte 7 cannot be decoded"),
    (b"[" * 100000, "nested too deeply"),
    (b'{"lead_ids": [' + b"9" * 5000 + b"]}", "an integer of 5000 digits is too long at line 1, position 15"),
    # The position is the number's, not that of the same digits earlier inside a string.
    (b'{"a": "' + b"9" * 5000 + b'",\n "lead_ids": [' + b"9" * 5000 + b"]}",
     "an integer of 5000 digits is too long at line 2, position 15"),
    # Python's float cannot hold it, and an answer reporting it back as Infinity would not be JSON.
    (b'{"lead_ids": [1, 1e400]}', "the number 1e400 is out of range at line 1, position 18"),
    (b'{"lead_ids": [-2.5E+999]}', "the number -2.5E+999 is out of range at line 1, position 15"),
])
def test_unreadable_bodies_say_what_and_where(body, message) -> None:
    with pytest.raises(UnreadableBody) as caught:
        parse_request(body)
    assert message in caught.value.message
    assert caught.value.status == 500
    assert caught.value.body()["lead_errors"] == 0 and caught.value.body()["lead_ids"] == []


def test_byte_order_mark_is_tolerated() -> None:
    assert parse_request(b"\xef\xbb\xbf" + raw(**VALID, lead_ids=[1])).lead_ids == (1,)


@pytest.mark.parametrize("body, key, where", [
    (b'{"delete_leads": true, "delete_leads": false}', "delete_leads", "line 1, position 24"),
    # The same key spelled with an escape is the same key.
    (b'{"lead_ids": [1],\n  "lead_\\u0069ds": [2]}', "lead_ids", "line 2, position 3"),
    # Inside a nested object, after a string value that looks like a key, and beside an array of strings.
    (b'{"a": ["x", "x"], "b": {"k": "\\"k\\"", "k": 1}}', "k", "line 1, position 39"),
    # Reading order decides: the outer object's duplicate comes first, though the inner object closes first.
    (b'{"a": 1, "a": {"b": 1, "b": 2}}', "a", "line 1, position 10"),
    (b'{"\xc3\xb8": 1, "\xc3\xb8": 2}', "\u00f8", "line 1, position 10"),
])
def test_a_key_given_twice_is_refused_naming_it(body, key, where) -> None:
    with pytest.raises(UnreadableBody) as caught:
        parse_request(body)
    assert caught.value.message == (f"request body is not valid JSON: the key {json.dumps(key, ensure_ascii=False)}"
                                    f" appears twice in one object, at {where} the second time")
    assert caught.value.status == 500


def test_the_dearchive_checks_no_update_leads_and_ignores_one_sent() -> None:
    from service.archive.direction import FROM_ARCHIVE

    assert parse_request(raw(insert_leads=True, delete_leads=False, lead_ids=[1]), FROM_ARCHIVE) == \
        ArchiveRequest(True, False, False, (1,))
    assert parse_request(raw(insert_leads=True, update_leads=True, delete_leads=True, lead_ids=[1]), FROM_ARCHIVE) \
        == ArchiveRequest(True, False, True, (1,))
    with pytest.raises(InvalidRequest, match=r"^delete_leads must be a boolean value$"):
        parse_request(raw(insert_leads=True, update_leads="no", lead_ids=[1]), FROM_ARCHIVE)


def test_the_limit_is_the_one_given() -> None:
    assert len(parse_request(raw(**VALID, lead_ids=list(range(7))), max_leads=7).lead_ids) == 7
    with pytest.raises(InvalidRequest, match=r"^lead_ids cannot exceed 6 values$"):
        parse_request(raw(**VALID, lead_ids=list(range(7))), max_leads=6)
