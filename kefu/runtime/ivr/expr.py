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

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
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


def fmt(v: Any) -> str:
    """A value as text in a prompt: whole floats without ``.0``, booleans in lower case.

    Args:
        v: any variable value.

    Returns:
        Its text ("" for None).
    """
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def fill(template: str, scope: Scope, quote: Any = None) -> str:
    """Replace ``{a.b}`` placeholders with variable values.

    Args:
        template: the text with placeholders.
        scope: the variables.
        quote: optional function applied to every substituted value (URL quoting).

    Returns:
        The filled text.
    """
    def sub(m: re.Match[str]) -> str:
        text = fmt(scope.lookup(m.group(1).strip()))
        return str(quote(text)) if quote is not None else text

    return _PLACEHOLDER.sub(sub, template)


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


def truthy(v: Any) -> bool:
    """Truth of an expression value (Python truth).

    Args:
        v: the value.

    Returns:
        bool(v).
    """
    return bool(v)


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v


def _call(e: Any, s: Scope) -> Any:
    func = e[1]
    if func in ("open", "holiday"):
        cal_id = e[2][1]
        if func == "open":
            return is_open(s.config, cal_id, s.now)
        cal = next((c for c in s.config.calendars if c.id == cal_id), None)
        if cal is None:
            return False
        day = local_time(cal, s.now).date().isoformat()
        return any(r.first <= day <= r.last for r in cal.closed)
    args = [evaluate(a, s) for a in e[2:]]
    result: Any = None
    if func == "len":
        result = len(args[0] or "")
    elif func == "contains":
        result = args[1] is not None and str(args[1]) in str(args[0] or "")
    elif func == "matches":
        result = re.search(str(args[1]), str(args[0] or "")) is not None
    elif func == "starts_with":
        result = str(args[0] or "").startswith(str(args[1]))
    elif func == "lower":
        result = str(args[0] or "").lower()
    return result


def _compare(op: str, left: Any, right: Any) -> Any:  # noqa: PLR0911 - one case per operator
    if op == "+":
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left + right
        return fmt(left) + fmt(right)
    if op == "in":
        return left in (right or [])
    if op == "==":
        return _norm(left) == _norm(right)
    if op == "!=":
        return _norm(left) != _norm(right)
    if op == "..":
        return (left, right)
    try:
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
    except TypeError:
        return False
    return None


def evaluate(e: Any, s: Scope) -> Any:  # noqa: PLR0911 - one case per operator
    """Evaluate an IR S-expression (see :mod:`kefu.dsl.ir`).

    Args:
        e: the expression tuple, or None.
        s: the scope.

    Returns:
        The value; comparisons of incomparable values are False, unknown functions None.
    """
    if e is None:
        return None
    op = e[0]
    if op == "var":
        return s.lookup(e[1])
    if op in ("str", "num", "bool", "date", "pct", "dur", "time"):
        return e[1]
    if op == "list":
        return [evaluate(x, s) for x in e[1:]]
    if op == "not":
        return not truthy(evaluate(e[1], s))
    if op == "call":
        return _call(e, s)
    if op == "or":
        return truthy(evaluate(e[1], s)) or truthy(evaluate(e[2], s))
    if op == "and":
        return truthy(evaluate(e[1], s)) and truthy(evaluate(e[2], s))
    return _compare(op, evaluate(e[1], s), evaluate(e[2], s))


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
