"""The one evaluator of the DSL's expression language (IR S-expression tuples, see
``docs/dsl/ir.md``), shared by the IVR interpreter, the rules engine and the workflow engine.
What an expression can see — variables and calendars — comes from the caller's scope."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class ExpressionScope(Protocol):
    def lookup(self, path: str) -> Any:
        """The value at a dotted variable path, None when absent."""
        ...

    def calendar_open(self, calendar_id: str) -> bool:
        """``open(calendar)``: is the calendar open now? Unknown calendars are closed."""
        ...

    def calendar_holiday(self, calendar_id: str) -> bool:
        """``holiday(calendar)``: is today a closed date of the calendar?"""
        ...


def fmt(v: Any) -> str:
    """A value as text in a prompt or message: whole floats without ``.0``, booleans in lower
    case, None as empty text."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def truthy(v: Any) -> bool:
    """Truth of an expression value (Python truth: empty text and 0 are false)."""
    return bool(v)


def fill(template: str, scope: ExpressionScope, quote: Callable[[str], str] | None = None) -> str:
    """``template`` with every ``{a.b}`` replaced by that variable (empty when missing),
    passed through ``quote`` when given (URL quoting for lookups)."""
    def sub(match: re.Match[str]) -> str:
        text = fmt(scope.lookup(match.group(1).strip()))
        return quote(text) if quote is not None else text

    return PLACEHOLDER.sub(sub, template)


def _norm(v: Any) -> Any:
    # "12" typed by a caller equals the number 12 in a comparison.
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v


_FUNCTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "len": lambda a: len(a[0] or ""),
    "contains": lambda a: a[1] is not None and str(a[1]) in str(a[0] or ""),
    "matches": lambda a: re.search(str(a[1]), str(a[0] or "")) is not None,
    "starts_with": lambda a: str(a[0] or "").startswith(str(a[1])),
    "lower": lambda a: str(a[0] or "").lower(),
}


def _call(e: Any, scope: ExpressionScope) -> Any:
    func = e[1]
    if func == "open":
        return scope.calendar_open(e[2][1])
    if func == "holiday":
        return scope.calendar_holiday(e[2][1])
    implementation = _FUNCTIONS.get(func)
    return implementation([evaluate(a, scope) for a in e[2:]]) if implementation else None


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
    left, right = _norm(left), _norm(right)  # digits a caller typed compare as numbers
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
        return False  # incomparable values (a number and a missing answer) are not ordered
    return None


def evaluate(e: Any, scope: ExpressionScope) -> Any:  # noqa: PLR0911 - one case per construct
    """The value of IR expression ``e`` in ``scope``.

    Args:
        e: the expression tuple, or None.
        scope: variables and calendars.

    Returns:
        The value (None for None); comparisons of incomparable values are False, unknown
        functions None.
    """
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
        return not truthy(evaluate(e[1], scope))
    if op == "call":
        return _call(e, scope)
    if op == "or":
        return truthy(evaluate(e[1], scope)) or truthy(evaluate(e[2], scope))
    if op == "and":
        return truthy(evaluate(e[1], scope)) and truthy(evaluate(e[2], scope))
    return _compare(op, evaluate(e[1], scope), evaluate(e[2], scope))


def holds(conditions: tuple[Any, ...] | list[Any], scope: ExpressionScope) -> bool:
    """Do all ``conditions`` evaluate truthy? (An empty list holds.)"""
    return all(truthy(evaluate(c, scope)) for c in conditions)
