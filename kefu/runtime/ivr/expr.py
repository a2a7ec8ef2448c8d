"""Expressions, text placeholders, calendars and input validation for the IVR interpreter.

The evaluator follows :func:`kefu.dsl.flowtest.evaluate` (the reference used by
``kefu test``) over a plain variable scope; calendars and form-field rules reuse
:func:`kefu.dsl.flowtest.calendar_open` and :func:`kefu.dsl.flowtest.field_problem`.
Nothing here executes code from the config: expressions are data.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from kefu.dsl import ir
from kefu.dsl.flowtest import calendar_open, field_problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_DIGITS = re.compile(r"^[0-9]+$")


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
        return is_open(self.config, calendar_id, self.now)

    def calendar_holiday(self, calendar_id: str) -> bool:
        cal = next((c for c in self.config.calendars if c.id == calendar_id), None)
        if cal is None:
            return False
        day = local_time(cal, self.now).date().isoformat()
        return any(r.first <= day <= r.last for r in cal.closed)

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


def local_time(cal: ir.Calendar, now: dt.datetime) -> dt.datetime:
    """``now`` in the calendar's time zone (a naive ``now`` is taken as local already).

    Args:
        cal: the calendar.
        now: the virtual clock.

    Returns:
        The local wall-clock time.
    """
    if now.tzinfo is None:
        return now
    try:
        return now.astimezone(zoneinfo.ZoneInfo(cal.timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return now


def is_open(config: ir.Config, calendar_id: str, now: dt.datetime) -> bool:
    """Is calendar ``calendar_id`` open at ``now``? An unknown calendar is closed.

    Args:
        config: the compiled config.
        calendar_id: the calendar's id.
        now: the virtual clock.

    Returns:
        True when open.
    """
    cal = next((c for c in config.calendars if c.id == calendar_id), None)
    if cal is None:
        return False
    return calendar_open(cal, local_time(cal, now))


def _type_problem(fld: ir.Field, value: str) -> bool:  # noqa: PLR0911 - one case per type
    kind = fld.type
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return True
        return False
    if kind == "phone":
        return _PHONE.match(value.replace(" ", "").replace("-", "")) is None
    if kind in ("pin", "account"):
        return _DIGITS.match(value) is None
    if kind == "email":
        return _EMAIL.match(value) is None
    if kind == "date":
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return True
        return False
    if kind == "boolean":
        return value.strip().lower() not in ("true", "false", "yes", "no", "1", "0", "是", "否")
    return False


def validate_field(fld: ir.Field, value: str) -> tuple[str, ir.Text | None] | None:
    """Check an answer against a form field's type and rules.

    Args:
        fld: the form field.
        value: the caller's answer.

    Returns:
        None when valid, else ``(problem, message)``: problem is ``type``, ``pattern``,
        ``length``, ``range`` or ``choices`` and message the rule's own message, if any.
    """
    if _type_problem(fld, value):
        return ("type", None)
    problem = field_problem(fld, value)
    if problem is None:
        return None
    rule = next((r for r in fld.rules if r.kind == problem), None)
    return (problem, rule.message if rule is not None else None)


def find_field(config: ir.Config, ref: tuple[str, str]) -> ir.Field | None:
    """The form field ``(form, field)`` a node validates against, if it exists.

    Args:
        config: the compiled config.
        ref: (form id, field id).

    Returns:
        The field, or None.
    """
    form = next((f for f in config.forms if f.id == ref[0]), None)
    if form is None:
        return None
    return next((f for f in form.fields if f.id == ref[1]), None)
