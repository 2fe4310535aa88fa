"""OFFICE_HOURS schedules and ViciDial call-time rules, pure."""

from __future__ import annotations

import datetime as dt

import pytest

from service.archive.office_hours import (
    CallTime,
    Holiday,
    Never,
    OfficeHoursError,
    ViciDialCallTime,
    WeeklySchedule,
    call_time_is_open,
    parse_holiday_ids,
    parse_office_hours,
)
from service.config import ConfigError, load_settings

UTC = dt.UTC
MONDAY = dt.date(2026, 11, 23)


def at(day: dt.date, hhmm: str, plus_days: int = 0) -> dt.datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time(hours, minutes, 30), UTC)


def test_none_and_vicidial_forms() -> None:
    assert parse_office_hours(" None ") == Never()
    assert parse_office_hours("vicidial:9am-5pm") == ViciDialCallTime("9am-5pm")


@pytest.mark.parametrize("when, expected", [
    (at(MONDAY, "07:59"), False), (at(MONDAY, "08:00"), True), (at(MONDAY, "16:59"), True),
    (at(MONDAY, "17:00"), False),  # end exclusive
    (at(MONDAY, "12:00", 4), True),  # Friday
    (at(MONDAY, "08:59", 5), False), (at(MONDAY, "09:00", 5), True), (at(MONDAY, "13:00", 5), False),  # Saturday
    (at(MONDAY, "12:00", 6), False),  # Sunday
])
def test_weekly_schedule(when, expected) -> None:
    schedule = parse_office_hours("mon-fri 08:00-17:00; sat 09:00-13:00")
    assert isinstance(schedule, WeeklySchedule)
    assert schedule.is_office_hours(when) is expected


def test_default_setting_is_weekdays_eight_to_five() -> None:
    settings = load_settings({"AUTH_KEY_SECRET": "x" * 32})
    assert settings.office_hours.describe() == "; ".join(
        f"{d} 08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri"))


def test_wrapping_ranges_lists_full_names_and_several_windows() -> None:
    schedule = parse_office_hours("FRI-mon 00:00-24:00; Wednesday 08:00-12:00, 13:00-17:00;")
    assert isinstance(schedule, WeeklySchedule)
    assert schedule.describe() == ("mon 00:00-24:00; wed 08:00-12:00,13:00-17:00; fri 00:00-24:00;"
                                   " sat 00:00-24:00; sun 00:00-24:00")
    assert schedule.is_office_hours(at(MONDAY, "23:59")) and not schedule.is_office_hours(at(MONDAY, "12:30", 2))


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("mon-fri", "expected days then times"),
    ("mon-fri 8-17", "'8' is not a time HH:MM"),
    ("mon-fri 08:00-25:00", "not a time of day"),
    ("mon-fri 08:60-17:00", "not a time of day"),
    ("mon-fri 17:00-08:00", "ends before it starts"),
    ("weekdays 08:00-17:00", "'weekdays' is not a day"),
    ("mon 08:00", "expected a window HH:MM-HH:MM"),
    ("vicidial:", "call_time_id"),
    ("vicidial:much-too-long-id", "call_time_id"),
])
def test_bad_schedules_say_why(text, reason) -> None:
    with pytest.raises(OfficeHoursError, match=reason):
        parse_office_hours(text)


def test_bad_schedule_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"AUTH_KEY_SECRET": "x" * 32, "OFFICE_HOURS": "mon-fri 9-5"})
    assert str(caught.value).startswith("OFFICE_HOURS: ")


# ViciDial call times -----------------------------------------------------------------------------

def call_time(default=(900, 1700), **days) -> CallTime:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return CallTime("ct", default, tuple(days.get(n, (0, 0)) for n in names), parse_holiday_ids("|xmas|newyear|"))


@pytest.mark.parametrize("hhmm, expected", [("08:59", False), ("09:00", True), ("16:59", True), ("17:00", False)])
def test_default_hours_stop_exclusive(hhmm, expected) -> None:
    assert call_time_is_open(call_time(), [], at(MONDAY, hhmm)) is expected


def test_weekday_override_and_zero_zero_means_default() -> None:
    ct = call_time(tuesday=(1200, 1300), wednesday=(0, 0))
    assert not call_time_is_open(ct, [], at(MONDAY, "11:00", 1))
    assert call_time_is_open(ct, [], at(MONDAY, "12:30", 1))
    assert call_time_is_open(ct, [], at(MONDAY, "11:00", 2))  # 0/0: the default 9-5


def test_2400_2400_closes_the_day_and_0_2400_is_all_day() -> None:
    ct = call_time(default=(0, 2400), sunday=(2400, 2400))
    assert call_time_is_open(ct, [], at(MONDAY, "00:00")) and call_time_is_open(ct, [], at(MONDAY, "23:59"))
    assert not any(call_time_is_open(ct, [], at(MONDAY, t, 6)) for t in ("00:00", "12:00", "23:59"))


def test_stop_past_midnight_reaches_into_the_next_morning() -> None:
    ct = call_time(default=(2400, 2400), monday=(1800, 2600))
    assert call_time_is_open(ct, [], at(MONDAY, "23:00"))
    assert call_time_is_open(ct, [], at(MONDAY, "01:59", 1)) and not call_time_is_open(ct, [], at(MONDAY, "02:00", 1))


def holiday(holiday_id="xmas", day=MONDAY, status="ACTIVE", start=0, stop=2400, method="REPLACE") -> Holiday:
    return Holiday(holiday_id, day, status, start, stop, method)


def test_active_holiday_today_replaces_the_hours() -> None:
    closed = call_time(default=(2400, 2400))
    assert call_time_is_open(closed, [holiday()], at(MONDAY, "03:00"))
    assert not call_time_is_open(closed, [holiday(status="INACTIVE")], at(MONDAY, "03:00"))
    assert not call_time_is_open(closed, [holiday(status="EXPIRED")], at(MONDAY, "03:00"))
    assert not call_time_is_open(closed, [holiday(day=MONDAY + dt.timedelta(days=1))], at(MONDAY, "03:00"))
    assert not call_time_is_open(closed, [holiday(holiday_id="not-listed")], at(MONDAY, "03:00"))
    # A holiday can also close a normally open day.
    assert not call_time_is_open(call_time(), [holiday(start=2400, stop=2400)], at(MONDAY, "10:00"))


def test_last_replace_holiday_by_id_wins() -> None:
    both = [holiday("xmas", start=1000, stop=1100), holiday("newyear", start=1500, stop=1600)]
    assert call_time_is_open(call_time(), both, at(MONDAY, "10:30"))  # 'xmas' sorts after 'newyear'
    assert not call_time_is_open(call_time(), both, at(MONDAY, "15:30"))


def test_addition_reverse_holiday_closes_its_window() -> None:
    reverse = [holiday(start=1200, stop=1300, method="ADDITION_REVERSE")]
    assert call_time_is_open(call_time(), reverse, at(MONDAY, "11:00"))
    assert not call_time_is_open(call_time(), reverse, at(MONDAY, "12:30"))


def test_holiday_ids() -> None:
    assert parse_holiday_ids("|xmas||newyear|") == ("xmas", "newyear")
    assert parse_holiday_ids(None) == ()
