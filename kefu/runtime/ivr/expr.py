"""The IVR interpreter's expression scope: session variables, the config's calendars and the
virtual clock, for :mod:`kefu.runtime.expressions` (the one evaluator) and text placeholders.

Business hours come from :mod:`kefu.runtime.calendar` (:func:`~kefu.runtime.calendar.open_at`)
and answers are validated by :mod:`kefu.runtime.forms`. Nothing here executes code from the
config: expressions are data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kefu.dsl import ir
from kefu.runtime.calendar import holiday_at, open_at


@dataclass
class Scope:
    """What an expression can see: the session variables, the config and the virtual clock."""

    config: ir.Config
    vars: dict[str, Any]
    now: dt.datetime

    def lookup(self, path: str) -> Any:
        """The value of a dotted variable path (``caller.number``), None when absent.

        Args:
            path: the variable path; ``now`` and ``today`` are the virtual clock.

        Returns:
            The value, or None.
        """
        if path == "now":
            return self.now
        if path == "today":
            return self.now.date().isoformat()
        value: Any = self.vars
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return None
        return value

    def calendar_open(self, calendar_id: str) -> bool:
        cal = self._calendar(calendar_id)
        return cal is not None and open_at(cal, self.now)

    def calendar_holiday(self, calendar_id: str) -> bool:
        cal = self._calendar(calendar_id)
        return cal is not None and holiday_at(cal, self.now)

    def _calendar(self, calendar_id: str) -> ir.Calendar | None:
        # naive `now` is the tenant's local time; an aware one is converted per calendar
        return next((c for c in self.config.calendars if c.id == calendar_id), None)

    def assign(self, path: str, value: Any) -> None:
        """Set a dotted variable path, creating intermediate records.

        Args:
            path: the variable path.
            value: the new value.
        """
        parts = path.split(".")
        target = self.vars
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        target[parts[-1]] = value
