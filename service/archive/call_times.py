"""Reading a ViciDial call time and its holidays from the database (the I/O edge of `office_hours`)."""

from __future__ import annotations

import datetime as dt

import aiomysql

from .office_hours import FULL_DAY_NAMES, CallTime, Holiday, parse_holiday_ids

_CALL_TIME_SQL = (
    "SELECT ct_default_start, ct_default_stop, "
    # Monday first, as CallTime.weekdays.
    + ", ".join(f"ct_{d}_start, ct_{d}_stop" for d in FULL_DAY_NAMES)
    + ", ct_holidays FROM vicidial_call_times WHERE call_time_id = %s"
)
_HOLIDAYS_SQL = (
    "SELECT holiday_id, holiday_date, holiday_status, ct_default_start, ct_default_stop, holiday_method"
    " FROM vicidial_call_time_holidays WHERE holiday_date IN (%s, %s)"
)


class CallTimeNotFound(LookupError):
    """OFFICE_HOURS names a call time that `vicidial_call_times` does not have."""

    def __init__(self, call_time_id: str) -> None:
        super().__init__(
            f"OFFICE_HOURS=vicidial:{call_time_id} but vicidial_call_times has no call_time_id"
            f" {call_time_id!r}; nothing was changed"
        )
        self.call_time_id = call_time_id


async def load_call_time(
    conn: aiomysql.Connection, call_time_id: str, today: dt.date
) -> tuple[CallTime, list[Holiday]]:
    """The call time and the holidays dated today or yesterday (a stop past 2400 reaches into today)."""
    async with conn.cursor() as cur:
        await cur.execute(_CALL_TIME_SQL, (call_time_id,))
        row = await cur.fetchone()
        if row is None:
            raise CallTimeNotFound(call_time_id)
        values = [int(v or 0) for v in row[:16]]
        call_time = CallTime(
            call_time_id=call_time_id,
            default=(values[0], values[1]),
            weekdays=tuple((values[2 + 2 * i], values[3 + 2 * i]) for i in range(7)),
            holiday_ids=parse_holiday_ids(row[16]),
        )
        holidays: list[Holiday] = []
        if call_time.holiday_ids:
            await cur.execute(_HOLIDAYS_SQL, (today, today - dt.timedelta(days=1)))
            for holiday_id, date, status, start, stop, method in await cur.fetchall():
                # Zero dates come back as strings; such a holiday is dated no day.
                holidays.append(Holiday(
                    holiday_id, date if isinstance(date, dt.date) else None, status or "",
                    int(start or 0), int(stop or 0), method or "REPLACE",
                ))
    return call_time, holidays
