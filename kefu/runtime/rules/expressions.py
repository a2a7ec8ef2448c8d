"""Evaluate IR expressions and fill ``{a.b}`` templates over plain data.

The same semantics as the reference :func:`kefu.dsl.flowtest.evaluate` (which works on a
flow-test session): numbers and numeric strings compare as numbers, ``and``/``or`` give
booleans, a missing variable is ``None``, comparisons between incomparable values are
false. ``open(cal)`` and ``holiday(cal)`` are answered by :mod:`kefu.runtime.calendar` at
the evaluation instant ``now``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from kefu.dsl import ir
from kefu.runtime.calendar import BusinessCalendar, CalendarError, resolve

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


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

    def calendar(self, calendar_id: str) -> BusinessCalendar | None:
        """The named calendar, or None when there is no config or no such calendar."""
        if self.config is None:
            return None
        try:
            return resolve(self.config, calendar_id)
        except CalendarError:
            return None


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v


def fmt(v: Any) -> str:
    """A value as text in a message: ``3.0`` → ``3``, None → empty, booleans lower-case."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _call(e: Any, scope: Scope) -> Any:
    func = e[1]
    if func in ("open", "holiday"):
        cal = scope.calendar(e[2][1])
        if cal is None:
            return False
        if func == "open":
            return cal.is_open(scope.now)
        return cal.is_holiday(scope.now.astimezone(cal.zone).date())
    args = [evaluate(a, scope) for a in e[2:]]
    simple: dict[str, Callable[[], Any]] = {
        "len": lambda: len(args[0] or ""),
        "contains": lambda: args[1] is not None and str(args[1]) in str(args[0] or ""),
        "matches": lambda: re.search(str(args[1]), str(args[0] or "")) is not None,
        "starts_with": lambda: str(args[0] or "").startswith(str(args[1])),
        "lower": lambda: str(args[0] or "").lower(),
    }
    f = simple.get(func)
    return f() if f else None


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
    l2, r2 = _norm(left), _norm(right)
    try:
        if op == "<":
            return l2 < r2
        if op == "<=":
            return l2 <= r2
        if op == ">":
            return l2 > r2
        if op == ">=":
            return l2 >= r2
    except TypeError:
        return False
    return None


def evaluate(e: Any, scope: Scope) -> Any:  # noqa: PLR0911 - one case per construct
    """The value of IR expression ``e`` in ``scope`` (None for ``None``)."""
    if e is None:
        return None
    op = e[0]
    if op == "var":
        return scope.lookup(e[1])
    if op in ("str", "num", "bool", "date", "pct", "dur", "time"):
        return e[1]
    if op == "list":
        return [evaluate(x, scope) for x in e[1:]]
    if op == "not":
        return not evaluate(e[1], scope)
    if op == "call":
        return _call(e, scope)
    if op == "or":
        return bool(evaluate(e[1], scope)) or bool(evaluate(e[2], scope))
    if op == "and":
        return bool(evaluate(e[1], scope)) and bool(evaluate(e[2], scope))
    return _compare(op, evaluate(e[1], scope), evaluate(e[2], scope))


def holds(conditions: tuple[Any, ...] | list[Any], scope: Scope) -> bool:
    """Do all ``conditions`` evaluate truthy? (An empty list holds.)"""
    return all(bool(evaluate(c, scope)) for c in conditions)


def fill(template: str, scope: Scope) -> str:
    """``template`` with every ``{a.b}`` replaced by that variable (empty when missing)."""
    return _PLACEHOLDER.sub(lambda m: fmt(scope.lookup(m.group(1).strip())), template)


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
