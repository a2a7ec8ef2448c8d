"""Business-calendar arithmetic on a compiled :class:`kefu.dsl.ir.Calendar`.

A calendar says, for every local date in its time zone, which minute ranges are open: a
``workday`` rule (调休, a special opening day) wins over everything, then a ``holiday``
closes the whole day, otherwise the weekly hours of that weekday apply. ``always`` calendars
are open every second.

All arithmetic is done on real elapsed time: each open range of a local day is turned into a
pair of aware instants through :mod:`zoneinfo`, so the hour that disappears when clocks go
forward is never counted and the hour that repeats when they go back is counted once per
occurrence. Inputs must be aware datetimes; results are aware datetimes in the calendar's
zone.

Pure functions on immutable data, no I/O: the workflow engine uses it for SLA deadlines and
follow-up dates, rules use it for ``open(...)``/``holiday(...)``.

:func:`open_at` and :func:`holiday_at` answer the same questions on a *wall-clock* time (a
naive datetime is the calendar's local time): the IVR interpreter uses them on its virtual
clock for ``open(...)``/``holiday(...)`` and the ACD router for a queue's own hours.
:func:`day_ranges` is the one place that decides which minutes of a day are open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from kefu.dsl import ir

#: How far ahead (in days) a search for working time looks before giving up. Three years
#: covers any realistic run of holidays; a calendar without working time in that window is
#: treated as having none.
MAX_SCAN_DAYS = 3 * 366

_DAY = dt.timedelta(days=1)


class CalendarError(ValueError):
    """A calendar cannot answer the question asked (base class)."""


class NoWorkingTime(CalendarError):
    """The calendar has no open time in the search window, so no deadline can be computed."""

    def __init__(self, calendar_id: str, after: dt.datetime) -> None:
        super().__init__(
            f"calendar `{calendar_id}` has no working time within {MAX_SCAN_DAYS} days "
            f"after {after.isoformat()}: add opening hours or remove holidays"
        )
        self.calendar_id = calendar_id


def day_ranges(cal: ir.Calendar, day: dt.date) -> tuple[tuple[int, int], ...]:
    """The open minute ranges ``(from, to)`` of local date ``day`` (``to`` may be 1440).

    A ``workday`` rule (调休) wins over everything, then a ``holiday`` closes the whole day,
    otherwise the weekly hours of that weekday apply; ``always`` calendars are open all day.

    Args:
        cal: the compiled calendar.
        day: a local date in the calendar's zone.

    Returns:
        The open ranges in minutes since midnight.
    """
    if cal.always:
        return ((0, 1440),)
    iso = day.isoformat()
    for rule in cal.workdays:
        if rule.first <= iso <= rule.last:
            return rule.ranges
    if is_holiday(cal, day):
        return ()
    return cal.weekly[day.weekday()]


def is_holiday(cal: ir.Calendar, day: dt.date) -> bool:
    """Is local date ``day`` inside one of the calendar's ``holiday`` (closed) rules?"""
    iso = day.isoformat()
    return any(rule.first <= iso <= rule.last for rule in cal.closed)


def local_time(cal: ir.Calendar, when: dt.datetime, timezone: str | None = None) -> dt.datetime:
    """``when`` as wall-clock time of the calendar.

    Args:
        cal: the calendar.
        when: a naive datetime (taken as the calendar's local time already) or an aware one
            (converted to the calendar's zone).
        timezone: overrides ``cal.timezone``.

    Returns:
        The local wall-clock time (``when`` unchanged when naive or the zone is unknown).
    """
    if when.tzinfo is None:
        return when
    try:
        return when.astimezone(ZoneInfo(timezone or cal.timezone))
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return when


def open_at(cal: ir.Calendar, when: dt.datetime, timezone: str | None = None) -> bool:
    """Is the calendar open at wall-clock time ``when``?

    Args:
        cal: the compiled calendar.
        when: naive (the calendar's local time, e.g. an IVR test's virtual clock) or aware.
        timezone: overrides ``cal.timezone`` for an aware ``when``.

    Returns:
        True when ``when``'s minute lies in an open range of its local date.
    """
    local = local_time(cal, when, timezone)
    minute = local.hour * 60 + local.minute
    return any(lo <= minute < hi for lo, hi in day_ranges(cal, local.date()))


def holiday_at(cal: ir.Calendar, when: dt.datetime, timezone: str | None = None) -> bool:
    """Is ``when``'s local date (see :func:`open_at`) a holiday of the calendar?"""
    return is_holiday(cal, local_time(cal, when, timezone).date())


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(f"{name} must be an aware datetime (with a time zone), "
                            f"got {value.isoformat()}")


class BusinessCalendar:
    """Open/closed questions and business-time arithmetic for one IR calendar.

    Args:
        calendar: the compiled calendar.
        timezone: overrides ``calendar.timezone`` (an IANA name such as ``Asia/Shanghai``).

    Raises:
        CalendarError: the time zone is unknown.
    """

    def __init__(self, calendar: ir.Calendar, timezone: str | None = None) -> None:
        self.calendar = calendar
        name = timezone or calendar.timezone
        try:
            self.zone = ZoneInfo(name)
        except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise CalendarError(f"calendar `{calendar.id}`: unknown time zone {name!r}") from exc

    @property
    def id(self) -> str:
        """The calendar's id."""
        return self.calendar.id

    # ------------------------------------------------------------------ days
    def day_ranges(self, day: dt.date) -> tuple[tuple[int, int], ...]:
        """The open minute ranges ``(from, to)`` of local date ``day`` (``to`` may be 1440)."""
        return day_ranges(self.calendar, day)

    def is_holiday(self, day: dt.date) -> bool:
        """Is local date ``day`` inside a ``holiday`` (closed) rule?"""
        return is_holiday(self.calendar, day)

    def is_workday(self, day: dt.date) -> bool:
        """Does local date ``day`` have any open time?"""
        return any(lo < hi for lo, hi in self.day_ranges(day))

    def _instant(self, day: dt.date, minute: int) -> dt.datetime:
        """The instant (in UTC) of local ``day`` at ``minute`` (1440 = next midnight).

        A local time inside a spring-forward gap is read with the offset in force before the
        change (zoneinfo's ``fold=0``) and normalised, e.g. 01:30 becomes 02:30 in London.
        """
        if minute >= 1440:
            day, minute = day + _DAY, minute - 1440
        local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(dt.UTC)

    def intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """Open intervals ``[start, end)`` of local date ``day`` as UTC instants, in order.

        (All internal arithmetic is in UTC: Python subtracts and compares datetimes that share
        a tzinfo by wall time, which would miscount DST change days.)"""
        out: list[tuple[dt.datetime, dt.datetime]] = []
        for lo, hi in sorted(self.day_ranges(day)):
            start, end = self._instant(day, lo), self._instant(day, hi)
            if end > start:
                out.append((start, end))
        return out

    def _intervals_from(self, at: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open intervals that end after ``at``, clipped to start no earlier than ``at``.

        Raises:
            NoWorkingTime: none within :data:`MAX_SCAN_DAYS`.
        """
        at = at.astimezone(dt.UTC)
        day = at.astimezone(self.zone).date() - _DAY  # yesterday's 24:00 range may spill over
        for _ in range(MAX_SCAN_DAYS + 2):
            for start, end in self.intervals(day):
                if end > at:
                    yield max(start, at), end
            day += _DAY
        raise NoWorkingTime(self.calendar.id, at)

    # ------------------------------------------------------------------ questions
    def is_open(self, at: dt.datetime) -> bool:
        """Is the calendar open at instant ``at``?

        Raises:
            CalendarError: ``at`` is naive.
        """
        _require_aware(at, "at")
        if self.calendar.always:
            return True
        local = at.astimezone(self.zone)
        at = at.astimezone(dt.UTC)
        return any(start <= at < end for d in (local.date() - _DAY, local.date())
                   for start, end in self.intervals(d))

    def next_open(self, at: dt.datetime) -> dt.datetime:
        """``at`` itself when open, otherwise the start of the next open interval.

        Raises:
            CalendarError: ``at`` is naive.
            NoWorkingTime: the calendar never opens within :data:`MAX_SCAN_DAYS`.
        """
        _require_aware(at, "at")
        if self.calendar.always:
            return at.astimezone(self.zone)
        start, _end = next(self._intervals_from(at))
        return start.astimezone(self.zone)

    def add_business_time(self, start: dt.datetime,
                          duration: dt.timedelta | float) -> dt.datetime:
        """The instant at which ``duration`` of open time has elapsed since ``start``.

        Nights, closed weekdays, holidays and DST gaps are skipped. A deadline that uses up an
        interval exactly ends at that interval's close (18:00), not at the next opening.
        ``duration`` is a timedelta or seconds; zero returns ``start`` unchanged.

        Raises:
            CalendarError: ``start`` is naive or ``duration`` is negative.
            NoWorkingTime: the calendar has no (or not enough) open time ahead.
        """
        _require_aware(start, "start")
        left = duration if isinstance(duration, dt.timedelta) else dt.timedelta(seconds=duration)
        if left < dt.timedelta(0):
            raise CalendarError(f"duration must not be negative, got {left}")
        if left == dt.timedelta(0):
            return start.astimezone(self.zone)
        if self.calendar.always:
            return (start.astimezone(dt.UTC) + left).astimezone(self.zone)
        for begin, end in self._intervals_from(start):
            span = end - begin
            if left <= span:
                return (begin + left).astimezone(self.zone)
            left -= span
        raise NoWorkingTime(self.calendar.id, start)  # pragma: no cover - generator raises

    def business_seconds_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Open seconds between instants ``a`` and ``b`` (negative when ``b`` is before ``a``).

        Raises:
            CalendarError: either instant is naive.
        """
        _require_aware(a, "a")
        _require_aware(b, "b")
        a, b = a.astimezone(dt.UTC), b.astimezone(dt.UTC)
        if b < a:
            return -self.business_seconds_between(b, a)
        if self.calendar.always:
            return (b - a).total_seconds()
        total = 0.0
        day = a.astimezone(self.zone).date() - _DAY
        last = b.astimezone(self.zone).date()
        while day <= last:
            for start, end in self.intervals(day):
                lo, hi = max(start, a), min(end, b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += _DAY
        return total

    def add_business_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The same local wall time ``days`` working days after ``start``'s date.

        A working day is a local date with any open time. Used for follow-ups declared in
        whole days ("visit 2 working days after the repair").

        Raises:
            CalendarError: ``start`` is naive or ``days`` is negative.
            NoWorkingTime: fewer than ``days`` working days in the search window.
        """
        _require_aware(start, "start")
        if days < 0:
            raise CalendarError(f"days must not be negative, got {days}")
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(MAX_SCAN_DAYS):
            if days == 0:
                wall = dt.datetime.combine(day, local.time(), tzinfo=self.zone)
                return wall.astimezone(dt.UTC).astimezone(self.zone)
            day += _DAY
            if self.is_workday(day):
                days -= 1
        raise NoWorkingTime(self.calendar.id, start)


#: The calendar used when a workflow names none: open around the clock.
ALWAYS = ir.Calendar(id="always", title=None, timezone="UTC", always=True,
                     weekly=((), (), (), (), (), (), ()))


def resolve(config: ir.Config, calendar_id: str | None) -> BusinessCalendar:
    """The business calendar ``calendar_id`` of ``config`` (the tenant's default when None,
    around the clock when the tenant has none), in the tenant's time zone when the calendar
    does not set its own.

    Raises:
        CalendarError: the id is not a calendar of this config.
    """
    wanted = calendar_id or config.tenant.calendar
    if wanted is None:
        return BusinessCalendar(ALWAYS, config.tenant.timezone)
    for cal in config.calendars:
        if cal.id == wanted:
            return BusinessCalendar(cal, cal.timezone or config.tenant.timezone)
    raise CalendarError(f"no calendar `{wanted}` in tenant `{config.tenant.id}`")
