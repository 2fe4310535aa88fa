from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, strategies as st

from service.sip_proxy import auth_key
from service.sip_proxy.session import SessionError, parse_expire_date, parse_session

SECRET = "test-auth-key-secret-0123456789"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def query(username="1001", expire_date="2026-06-01T18:00:00Z", customer_id="7", user_id="1001", **extra):
    q = {"customer_id": customer_id, "user_id": user_id, "username": username, "expire_date": expire_date}
    q["auth_key"] = auth_key.sign(SECRET, int(customer_id), int(user_id), username, expire_date)
    q.update(extra)
    return q


def refused(q, now=NOW) -> SessionError:
    with pytest.raises(SessionError) as info:
        parse_session(q, SECRET, now)
    return info.value


def test_a_valid_session():
    session = parse_session(query(), SECRET, NOW)
    assert (session.customer_id, session.user_id, session.username) == (7, 1001, "1001")
    assert session.expires_at == datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    assert session.seconds_left(NOW) == 6 * 3600


def test_missing_parameters_are_named():
    q = query()
    del q["auth_key"], q["username"]
    error = refused(q)
    assert (error.status, error.reason) == (401, "missing_parameter")
    assert "auth_key" in error.message and "username" in error.message


@pytest.mark.parametrize("name,value", [
    ("customer_id", "abc"), ("customer_id", "-1"), ("user_id", "1.5"), ("user_id", "١٢"),
    ("username", "bob smith"), ("username", "a\nb"), ("username", "x" * 65), ("username", "bob@host"),
    ("expire_date", "tomorrow"), ("expire_date", "2026-13-01T00:00:00"),
    # Valid ISO 8601 whose UTC instant no datetime can hold.
    ("expire_date", "9999-12-31T23:59:59-23:59"), ("expire_date", "0001-01-01T00:00:00+01:00"),
])
def test_malformed_parameters_are_refused_with_401(name, value):
    q = query()
    q[name] = value
    error = refused(q)
    assert error.status == 401 and error.reason == "bad_parameter" and name in error.message


def test_a_forged_key_is_refused():
    q = query()
    q["auth_key"] = q["auth_key"][:-1] + ("A" if q["auth_key"][-1] != "A" else "B")
    assert refused(q).reason == "bad_auth_key"


def test_a_key_for_another_user_is_refused():
    q = query(username="1001")
    q["username"] = "1002"
    error = refused(q)
    assert (error.status, error.reason) == (401, "bad_auth_key")


def test_an_expired_session_is_refused_with_403():
    error = refused(query(expire_date="2026-06-01T11:59:59Z"))
    assert (error.status, error.reason) == (403, "session_expired")


def test_the_key_is_checked_before_the_expiry():
    q = query(expire_date="2020-01-01T00:00:00Z")
    q["auth_key"] = "forged"
    assert refused(q).status == 401


def test_a_date_without_offset_is_utc_and_offsets_are_honoured():
    assert parse_expire_date("2026-06-01T18:00:00") == datetime(2026, 6, 1, 18, tzinfo=UTC)
    assert parse_expire_date("2026-06-01 20:00:00+02:00") == datetime(2026, 6, 1, 18, tzinfo=UTC)
    assert parse_expire_date("2026-06-01T18:00:00.250Z") == datetime(2026, 6, 1, 18, 0, 0, 250000, UTC)
    # 13:00+02:00 is 11:00 UTC: before NOW although its wall-clock digits are after it.
    assert refused(query(expire_date="2026-06-01T13:00:00+02:00")).reason == "session_expired"
    assert parse_session(query(expire_date="2026-06-01T15:00:00+02:00"), SECRET, NOW).seconds_left(NOW) == 3600


FIRST_SECOND = (date(1, 1, 1).toordinal() - date(1970, 1, 1).toordinal()) * 86400
LAST_SECOND = (date(9999, 12, 31).toordinal() - date(1970, 1, 1).toordinal()) * 86400 + 86399


@given(
    day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    second=st.integers(0, 86399),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59) | st.none(),
    separator=st.sampled_from("T "),
)
@example(day=date(9999, 12, 31), second=86399, offset_minutes=-(23 * 60 + 59), separator="T")
@example(day=date(1, 1, 1), second=0, offset_minutes=60, separator="T")
@example(day=date(1, 1, 1), second=3600, offset_minutes=60, separator="T")
@example(day=date(9999, 12, 31), second=0, offset_minutes=None, separator=" ")
def test_extreme_dates_and_offsets_are_a_utc_instant_or_malformed(day, second, offset_minutes, separator):
    """Every date and offset ISO 8601 can spell gives either its exact UTC instant or ValueError (a 401 for a
    bad parameter), never another exception: the instant is worked out here in plain integers."""
    hms = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    zone = ""
    if offset_minutes is not None:
        sign = "-" if offset_minutes < 0 else "+"
        zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    text = f"{day.isoformat()}{separator}{hms}{zone}"
    expected = (day.toordinal() - date(1970, 1, 1).toordinal()) * 86400 + second - 60 * (offset_minutes or 0)
    if FIRST_SECOND <= expected <= LAST_SECOND:
        value = parse_expire_date(text)
        assert value.tzinfo is UTC and value.timestamp() == expected
        assert value - datetime(1970, 1, 1, tzinfo=UTC) == timedelta(seconds=expected)
    else:
        with pytest.raises(ValueError):
            parse_expire_date(text)


@given(st.text(max_size=48))
def test_any_text_parses_or_raises_value_error(text):
    try:
        value = parse_expire_date(text)
    except ValueError:
        return
    assert value.tzinfo is UTC
    value.timestamp()  # a datetime the relay's expiry timer and TURN credentials can use
