"""Form-field validation on a compiled :class:`kefu.dsl.ir.Field`: the one implementation of a
field's type and rules (``pattern``, ``length``, ``range``, ``choices``).

The IVR interpreter uses it for ``ask … { validate form.field }``; forms filled on other
channels (kiosk, portal) check answers the same way. Pure functions, no I/O; a pattern is data
compiled with :mod:`re`, never code.
"""

from __future__ import annotations

import datetime as dt
import re

from kefu.dsl import ir

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_DIGITS = re.compile(r"^[0-9]+$")
_BOOLEANS = frozenset({"true", "false", "yes", "no", "1", "0", "是", "否"})


def type_problem(fld: ir.Field, value: str) -> bool:  # noqa: PLR0911 - one case per type
    """Does ``value`` fail to be a value of the field's type?

    Types checked: ``number``, ``phone``, ``pin`` and ``account`` (digits), ``email``,
    ``date`` (ISO), ``boolean``; every other type accepts any text.

    Args:
        fld: the form field.
        value: the answer as text.

    Returns:
        True when the answer does not fit the type.
    """
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
        return value.strip().lower() not in _BOOLEANS
    return False


def field_problem(fld: ir.Field, value: str) -> str | None:
    """Which of the field's rules ``value`` breaks, or None.

    Args:
        fld: the form field.
        value: the answer as text.

    Returns:
        ``pattern``, ``length``, ``range`` or ``choices`` for the first rule broken, else None.
    """
    for rule in fld.rules:
        if rule.kind == "pattern" and not re.search(rule.value, value):
            return "pattern"
        if rule.kind == "length" and not rule.value[0] <= len(value) <= rule.value[1]:
            return "length"
        if rule.kind == "range":
            try:
                number = float(value)
            except ValueError:
                return "range"
            if not rule.value[0] <= number <= rule.value[1]:
                return "range"
    if fld.choices and value not in fld.choices:
        return "choices"
    return None


def validate_field(fld: ir.Field, value: str) -> tuple[str, ir.Text | None] | None:
    """Check an answer against a form field's type and rules.

    Args:
        fld: the form field.
        value: the answer as text.

    Returns:
        None when valid, else ``(problem, message)``: problem is ``type``, ``pattern``,
        ``length``, ``range`` or ``choices`` and message the rule's own message, if any.
    """
    if type_problem(fld, value):
        return ("type", None)
    problem = field_problem(fld, value)
    if problem is None:
        return None
    rule = next((r for r in fld.rules if r.kind == problem), None)
    return (problem, rule.message if rule is not None else None)


def find_field(config: ir.Config, ref: tuple[str, str]) -> ir.Field | None:
    """The form field ``(form, field)`` of a config, if it exists.

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
