"""Evaluate IR expressions and fill ``{a.b}`` templates over plain data.

The same semantics as :func:`kefu.runtime.expressions.evaluate`, which flows use: numbers
and numeric strings compare as numbers, ``and``/``or`` give
booleans, a missing variable is ``None``, comparisons between incomparable values are
false. ``open(cal)`` and ``holiday(cal)`` are answered by :mod:`kefu.runtime.calendar` at
the evaluation instant ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kefu.dsl import ir
from kefu.runtime.calendar import BusinessCalendar, CalendarError, resolve


class Scope:
    """Variables (a nested mapping addressed by dotted paths) plus the instant and calendars
    that ``open(...)``/``holiday(...)`` need.

    Args:
        variables: e.g. ``{"ticket": {...}, "customer": {...}, "message": {...}}``.
        now: the evaluation instant (aware).
        config: the tenant config, for calendars; None means calendar calls are false.
    """

    def __init__(self, variables: Mapping[str, Any], now: dt.datetime,
                 config: ir.Config | None = None) -> None:
        self.variables = variables
        self.now = now
        self.config = config

    def lookup(self, path: str) -> Any:
        """The value at dotted ``path`` (``ticket.联系电话``), None when any part is missing."""
        value: Any = self.variables
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
            if value is None:
                return None
        return value

    def calendar_open(self, calendar_id: str) -> bool:
        cal = self.calendar(calendar_id)
        return cal is not None and cal.is_open(self.now)

    def calendar_holiday(self, calendar_id: str) -> bool:
        cal = self.calendar(calendar_id)
        return cal is not None and cal.is_holiday(self.now.astimezone(cal.zone).date())

    def calendar(self, calendar_id: str) -> BusinessCalendar | None:
        """The named calendar, or None when there is no config or no such calendar."""
        if self.config is None:
            return None
        try:
            return resolve(self.config, calendar_id)
        except CalendarError:
            return None


def pick_text(text: ir.Text | None, locale: str | None) -> str:
    """The string of ``text`` for ``locale`` (or its language), else the first one; ``""``
    when there is no text."""
    if text is None or not text.texts:
        return ""
    if locale:
        if locale in text.texts:
            return text.texts[locale]
        lang = locale.split("_")[0]
        for key, value in text.texts.items():
            if key.split("_")[0] == lang:
                return value
    return next(iter(text.texts.values()))
