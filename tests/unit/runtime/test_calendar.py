"""Business-calendar arithmetic, on the example tenants' real calendars where possible."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from kefu.dsl import ir
from kefu.dsl.loader import compile_path
from kefu.runtime.calendar import (
    BusinessCalendar,
    CalendarError,
    NoWorkingTime,
    holiday_at,
    open_at,
    resolve,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
HOUR = dt.timedelta(hours=1)


@cache
def config(tenant: str) -> ir.Config:
    result = compile_path(f"tenants/{tenant}")
    assert result.ir is not None, result.diagnostics
    return result.ir


def gas() -> BusinessCalendar:
    """营业时间: every day 08:00-20:00, National Day and Spring Festival closed, 调休 on
    Sunday 2025-09-28 08:00-17:00."""
    return resolve(config("gas"), "营业时间")


def hall() -> BusinessCalendar:
    """95598 营业厅: Mon-Fri 08:00-18:00, Sat 09:00-17:00, Sunday closed, 10-01..07 closed."""
    return resolve(config("power95598"), "营业厅")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def london_daily(ranges: tuple[tuple[int, int], ...]) -> BusinessCalendar:
    return BusinessCalendar(ir.Calendar("daily", None, "Europe/London", False, (ranges,) * 7))


def test_deadline_after_closing_falls_on_next_working_morning() -> None:
    # 4 h asked at 18:00: two hours tonight, two tomorrow from 08:00.
    assert gas().add_business_time(sh(2025, 11, 5, 18, 0), 4 * HOUR) == sh(2025, 11, 6, 10, 0)


def test_deadline_filling_the_day_exactly_ends_at_closing_time() -> None:
    assert gas().add_business_time(sh(2025, 11, 5, 16, 0), 4 * HOUR) == sh(2025, 11, 5, 20, 0)


def test_request_at_night_starts_counting_at_opening() -> None:
    assert gas().add_business_time(sh(2025, 11, 5, 23, 30), 30 * 60) == sh(2025, 11, 6, 8, 30)


def test_national_day_holidays_are_skipped() -> None:
    # One hour on 30 Sep, then 1-3 Oct closed, the remaining 3 h on 4 Oct.
    deadline = gas().add_business_time(sh(2025, 9, 30, 19, 0), 4 * HOUR)
    assert deadline == sh(2025, 10, 4, 11, 0)


def test_golden_week_is_skipped_on_the_hall_calendar() -> None:
    # 12 h from Tuesday 30 Sep 17:00: 1 h that day, 1-7 Oct closed, 10 h on Wed 8 Oct,
    # the last hour on Thu 9 Oct from 08:00.
    assert hall().add_business_time(sh(2025, 9, 30, 17), 12 * HOUR) == sh(2025, 10, 9, 9)


def test_long_duration_round_trips_with_business_seconds() -> None:
    start = sh(2025, 9, 30, 17, 0)
    deadline = hall().add_business_time(start, 5 * 86_400)  # 投诉办结 within 5d
    assert hall().business_seconds_between(start, deadline) == 5 * 86_400
    assert hall().is_open(deadline - dt.timedelta(seconds=1))


def test_adjusted_workday_uses_its_own_hours() -> None:
    cal = gas()
    assert cal.is_open(sh(2025, 9, 28, 16, 59))
    assert not cal.is_open(sh(2025, 9, 28, 18, 0))  # normally open till 20:00, 调休 till 17:00
    assert cal.is_open(sh(2025, 9, 27, 18, 0))


def test_wall_clock_open_at_agrees_with_instant_arithmetic() -> None:
    cal = hall()
    start = sh(2025, 9, 26, 0, 0)
    for step in range(0, 14 * 24 * 4):
        at = start + dt.timedelta(minutes=15 * step)
        assert cal.is_open(at) == open_at(cal.calendar, at), at
        assert open_at(cal.calendar, at) == open_at(cal.calendar, at.replace(tzinfo=None)), at


def test_open_at_reads_a_naive_time_as_local_and_converts_an_aware_one() -> None:
    cal = hall().calendar  # Asia/Shanghai, Mon-Fri 08:00-18:00
    monday_11 = dt.datetime(2025, 3, 3, 11, 0)  # noqa: DTZ001 - local wall-clock time
    assert open_at(cal, monday_11)
    assert not open_at(cal, monday_11.replace(tzinfo=dt.UTC))  # 11:00 UTC is 19:00 there
    assert open_at(cal, monday_11.replace(tzinfo=dt.UTC), timezone="UTC")
    assert not open_at(cal, monday_11.replace(hour=18))  # closing time is exclusive


def test_rules_workday_beats_holiday_beats_weekly() -> None:
    gas_cal = gas().calendar
    national_day = dt.datetime(2025, 10, 2, 10, 0)  # noqa: DTZ001 - local wall-clock time
    assert holiday_at(gas_cal, national_day)
    assert not open_at(gas_cal, national_day)
    tiaoxiu = dt.datetime(2025, 9, 28, 16, 59)  # noqa: DTZ001 - a Sunday made a workday
    assert open_at(gas_cal, tiaoxiu)
    assert not open_at(gas_cal, tiaoxiu.replace(hour=17, minute=30))


def test_weekend_and_holiday_seconds_are_not_counted() -> None:
    cal = hall()
    # Friday 17:00 → Monday 09:00: 1 h Fri + 8 h Sat + 1 h Mon.
    assert cal.business_seconds_between(sh(2025, 11, 7, 17), sh(2025, 11, 10, 9)) == 10 * 3600
    assert cal.business_seconds_between(sh(2025, 11, 10, 9), sh(2025, 11, 7, 17)) == -10 * 3600
    assert cal.business_seconds_between(sh(2025, 10, 1, 0), sh(2025, 10, 8, 0)) == 0


def test_next_open() -> None:
    cal = hall()
    assert cal.next_open(sh(2025, 11, 8, 18, 0)) == sh(2025, 11, 10, 8, 0)  # Sat evening
    assert cal.next_open(sh(2025, 11, 10, 9, 15)) == sh(2025, 11, 10, 9, 15)
    assert cal.next_open(sh(2025, 9, 30, 18, 0)) == sh(2025, 10, 8, 8, 0)


def test_results_are_in_the_calendar_zone_whatever_the_input_zone() -> None:
    utc_start = dt.datetime(2025, 11, 5, 10, 0, tzinfo=dt.UTC)  # 18:00 in Shanghai
    deadline = gas().add_business_time(utc_start, 4 * HOUR)
    assert deadline == sh(2025, 11, 6, 10, 0)
    assert deadline.tzinfo == SHANGHAI


def test_spring_forward_day_has_one_hour_less() -> None:
    cal = london_daily(((0, 1440),))
    day = dt.datetime(2026, 3, 29, tzinfo=LONDON)
    assert cal.business_seconds_between(day, day + dt.timedelta(days=1)) == 23 * 3600
    # A range across the gap 01:00-02:00 lasts one real hour less.
    early = london_daily(((0, 180),))
    assert early.business_seconds_between(day, day + dt.timedelta(days=1)) == 2 * 3600


def test_fall_back_day_has_one_hour_more() -> None:
    cal = london_daily(((0, 1440),))
    day = dt.datetime(2026, 10, 25, tzinfo=LONDON)
    assert cal.business_seconds_between(day, day + dt.timedelta(days=1)) == 25 * 3600


def test_deadline_across_dst_change_keeps_office_hours() -> None:
    cal = london_daily(((480, 1080),))  # 08:00-18:00 every day
    start = dt.datetime(2026, 3, 28, 17, 0, tzinfo=LONDON)  # GMT
    deadline = cal.add_business_time(start, 9 * HOUR)
    assert deadline == dt.datetime(2026, 3, 29, 16, 0, tzinfo=LONDON)
    assert deadline.utcoffset() == HOUR  # BST
    assert deadline.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(hours=22)  # real hours: the night lost one


def test_local_time_in_the_gap_is_normalised() -> None:
    cal = london_daily(((90, 600),))  # opens at 01:30, which does not exist on 29 March
    opens = cal.next_open(dt.datetime(2026, 3, 29, 0, 0, tzinfo=LONDON))
    assert opens.astimezone(dt.UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)


def test_always_calendar_is_plain_elapsed_time() -> None:
    cal = resolve(config("gas"), "全天")
    start = sh(2025, 10, 1, 23, 0)
    assert cal.is_open(start)
    assert cal.add_business_time(start, 30 * 60) == sh(2025, 10, 1, 23, 30)
    assert cal.business_seconds_between(start, start + HOUR) == 3600


def test_calendar_without_working_time_is_a_clear_error() -> None:
    never = BusinessCalendar(ir.Calendar("never", None, "Asia/Shanghai", False, ((),) * 7))
    with pytest.raises(NoWorkingTime, match="calendar `never` has no working time"):
        never.add_business_time(sh(2025, 1, 1, 9), HOUR)
    with pytest.raises(NoWorkingTime):
        never.next_open(sh(2025, 1, 1, 9))
    assert not never.is_open(sh(2025, 1, 1, 9))


def test_bad_inputs_are_refused() -> None:
    cal = gas()
    with pytest.raises(CalendarError, match="aware"):
        cal.is_open(dt.datetime(2025, 1, 1, 9))  # noqa: DTZ001 - the point of the test
    with pytest.raises(CalendarError, match="negative"):
        cal.add_business_time(sh(2025, 1, 1, 9), -1)
    with pytest.raises(CalendarError, match="no calendar `nope`"):
        resolve(config("gas"), "nope")
    with pytest.raises(CalendarError, match="unknown time zone"):
        BusinessCalendar(ir.Calendar("x", None, "Mars/Olympus", True, ((),) * 7))


def test_zero_duration_is_the_start() -> None:
    assert gas().add_business_time(sh(2025, 11, 5, 22), 0) == sh(2025, 11, 5, 22)


def test_business_days_skip_closed_days() -> None:
    cal = hall()
    # Friday 10:00 + 2 working days = Monday... Saturday is a working day at the hall.
    assert cal.add_business_days(sh(2025, 11, 7, 10), 2) == sh(2025, 11, 10, 10)
    # Across National Day: 30 Sep + 1 working day = 8 Oct.
    assert cal.add_business_days(sh(2025, 9, 30, 15), 1) == sh(2025, 10, 8, 15)


def test_tenant_default_calendar_is_used_when_none_is_named() -> None:
    assert resolve(config("gas"), None).id == "营业时间"
