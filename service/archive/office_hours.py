"""When the archive API refuses to run: the `OFFICE_HOURS` setting, and ViciDial call times.

Three forms (README, "Office hours"):

- `none`: never office hours, the API always runs;
- a weekly schedule, `mon-fri 08:00-17:00; sat 09:00-13:00`: parts separated by `;`, each a day, a day
  range (`fri-mon` wraps) or a comma list of those, then one or more `HH:MM-HH:MM` windows separated by
  commas; the end is exclusive and may be `24:00`;
- `vicidial:CALL_TIME_ID`: the hours of that row of ViciDial's `vicidial_call_times`, read at request time
  (see `call_time_is_open` for ViciDial's rules).

Everything here is pure: times come in as aware datetimes in the schedule's zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
MAX_CALL_TIME_ID = 10  # vicidial_call_times.call_time_id is VARCHAR(10)


class OfficeHoursError(ValueError):
    """OFFICE_HOURS is not a schedule this module understands; the message says what is wrong."""


@dataclasses.dataclass(frozen=True, slots=True)
class Never:
    """`none`: there are no office hours."""

    def describe(self) -> str:
        return "none"


@dataclasses.dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Office-hour windows per weekday (Monday first), in minutes since midnight, end exclusive."""

    days: tuple[tuple[tuple[int, int], ...], ...]

    def is_office_hours(self, when: dt.datetime) -> bool:
        minute = when.hour * 60 + when.minute
        return any(start <= minute < end for start, end in self.days[when.weekday()])

    def describe(self) -> str:
        parts = []
        for name, windows in zip(DAY_NAMES, self.days, strict=True):
            if windows:
                parts.append(f"{name} " + ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in windows))
        return "; ".join(parts) or "none"


@dataclasses.dataclass(frozen=True, slots=True)
class ViciDialCallTime:
    """`vicidial:CALL_TIME_ID`: office hours are the hours of this ViciDial call time."""

    call_time_id: str

    def describe(self) -> str:
        return f"vicidial:{self.call_time_id}"


OfficeHours = Never | WeeklySchedule | ViciDialCallTime


def parse_office_hours(text: str) -> OfficeHours:
    """Parse an OFFICE_HOURS value, raising `OfficeHoursError` with a one-line reason."""
    value = text.strip()
    if value.lower() == "none":
        return Never()
    if value.lower().startswith("vicidial:"):
        call_time_id = value[len("vicidial:"):].strip()
        if not call_time_id or len(call_time_id) > MAX_CALL_TIME_ID or any(c.isspace() for c in call_time_id):
            raise OfficeHoursError(
                f"vicidial: must be followed by a call_time_id of 1-{MAX_CALL_TIME_ID} characters"
                f" without spaces (e.g. vicidial:9am-5pm), got {call_time_id!r}"
            )
        return ViciDialCallTime(call_time_id)
    days: list[list[tuple[int, int]]] = [[] for _ in DAY_NAMES]
    parts = [part.strip() for part in value.split(";") if part.strip()]
    if not parts:
        raise OfficeHoursError("empty: use none, a weekly schedule such as 'mon-fri 08:00-17:00', or vicidial:ID")
    for part in parts:
        fields = part.split(None, 1)
        if len(fields) != 2:
            raise OfficeHoursError(f"{part!r}: expected days then times, e.g. 'mon-fri 08:00-17:00'")
        day_spec, time_spec = fields
        windows = [_window(w.strip(), part) for w in time_spec.split(",")]
        for day in _days(day_spec, part):
            days[day].extend(windows)
    return WeeklySchedule(tuple(tuple(sorted(set(w))) for w in days))


def _day(name: str, part: str) -> int:
    name = name.strip().lower()
    for names in (DAY_NAMES, FULL_DAY_NAMES):
        if name in names:
            return names.index(name)
    raise OfficeHoursError(f"{part!r}: {name!r} is not a day (use mon, tue, wed, thu, fri, sat, sun)")


def _days(spec: str, part: str) -> list[int]:
    days: list[int] = []
    for item in spec.split(","):
        first, dash, last = item.partition("-")
        start = _day(first, part)
        end = _day(last, part) if dash else start
        # fri-mon wraps over the weekend.
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


def _minutes(text: str, part: str) -> int:
    match = _TIME.match(text)
    if not match:
        raise OfficeHoursError(f"{part!r}: {text!r} is not a time HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise OfficeHoursError(f"{part!r}: {text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _window(text: str, part: str) -> tuple[int, int]:
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise OfficeHoursError(f"{part!r}: expected a window HH:MM-HH:MM such as 08:00-17:00, got {text!r}")
    start, end = _minutes(start_text.strip(), part), _minutes(end_text.strip(), part)
    if end <= start:
        raise OfficeHoursError(
            f"{part!r}: {text!r} ends before it starts; for hours past midnight write two parts,"
            " e.g. 'mon 22:00-24:00; tue 00:00-06:00'"
        )
    return start, end


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ViciDial call times ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Holiday:
    """A row of `vicidial_call_time_holidays`; start and stop are HHMM integers like the call time's."""

    holiday_id: str
    date: dt.date | None
    status: str
    start: int
    stop: int
    method: str = "REPLACE"


@dataclasses.dataclass(frozen=True, slots=True)
class CallTime:
    """A row of `vicidial_call_times`: HHMM integer pairs (1405 is 14:05)."""

    call_time_id: str
    default: tuple[int, int]
    weekdays: tuple[tuple[int, int], ...]  # Monday first, as datetime.weekday()
    holiday_ids: tuple[str, ...] = ()


def parse_holiday_ids(ct_holidays: str | None) -> tuple[str, ...]:
    """`|xmas|newyear|` -> ('xmas', 'newyear')."""
    return tuple(h.strip() for h in (ct_holidays or "").split("|") if h.strip())


def _active(call_time: CallTime, holidays: list[Holiday], day: dt.date, method: str) -> list[Holiday]:
    return sorted(
        (h for h in holidays
         if h.holiday_id in call_time.holiday_ids and h.status == "ACTIVE" and h.date == day
         and (h.method or "REPLACE").upper() == method),
        key=lambda h: h.holiday_id,
    )


def _hours_on(call_time: CallTime, holidays: list[Holiday], day: dt.date) -> tuple[int, int]:
    start, stop = call_time.weekdays[day.weekday()]
    # ViciDial uses a weekday's own pair only when either value is set; 0/0 means "the default".
    if start == 0 and stop == 0:
        start, stop = call_time.default
    for holiday in _active(call_time, holidays, day, "REPLACE"):  # every match applies; the last one wins
        start, stop = holiday.start, holiday.stop
    return start, stop


def call_time_is_open(call_time: CallTime, holidays: list[Holiday], when: dt.datetime) -> bool:
    """Whether ViciDial's call time is open at `when` (local to the call time), by ViciDial's rules.

    Start inclusive, stop exclusive (the dialer's convention); 2400/2400 closes the day, 0-2400 is all day;
    a stop past 2400 runs into the next morning; ACTIVE holidays listed in the call time and dated today
    REPLACE the day's hours, or with ADDITION_REVERSE close the holiday's window.
    """
    now = when.hour * 100 + when.minute
    today = when.date()
    start, stop = _hours_on(call_time, holidays, today)
    is_open = start <= now < stop
    _, yesterday_stop = _hours_on(call_time, holidays, today - dt.timedelta(days=1))
    if yesterday_stop > 2400 and now < yesterday_stop - 2400:
        is_open = True
    for holiday in _active(call_time, holidays, today, "ADDITION_REVERSE"):
        if holiday.start <= now < holiday.stop:
            is_open = False
    return is_open
