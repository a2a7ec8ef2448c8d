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


# ---------------------------------------------------------------------- whole forms
#: What a broken rule says when the DSL gives the rule no message of its own.
PROBLEM_TEXTS: dict[str, dict[str, str]] = {
    "en": {"required": "This field is required.", "type": "This is not a valid {type}.",
           "pattern": "This does not have the expected format.",
           "length": "Use {min} to {max} characters.",
           "range": "Use a number from {min} to {max}.", "choices": "Choose one of: {choices}.",
           "unknown": "This form has no field {name}.",
           "shape": "Give a single value (text, number or true/false)."},
    "zh_CN": {"required": "此项为必填项。", "type": "这不是有效的{type}。",
              "pattern": "格式不正确。", "length": "请输入 {min} 到 {max} 个字符。",
              "range": "请输入 {min} 到 {max} 之间的数字。", "choices": "请选择：{choices}。",
              "unknown": "表单中没有字段 {name}。", "shape": "请填写单个值（文字、数字或是/否）。"},
}


#: Field types as the stock "not a valid …" text names them (the DSL's type word otherwise).
TYPE_NAMES: dict[str, dict[str, str]] = {
    "en": {"account": "account number", "pin": "PIN", "phone": "phone number",
           "email": "email address", "number": "number", "date": "date", "time": "time"},
    "zh_CN": {"account": "账号", "pin": "密码", "phone": "电话号码", "email": "电子邮箱地址",
              "number": "数字", "date": "日期", "time": "时间", "text": "文字",
              "choice": "选项", "boolean": "是/否"},
}


class _Answers:
    """What a field's ``when`` condition sees: the other answers, by field name."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def lookup(self, path: str) -> object:
        return self.values.get(path.removeprefix("form."))

    def calendar_open(self, calendar_id: str) -> bool:
        return False

    def calendar_holiday(self, calendar_id: str) -> bool:
        return False


def as_text(value: object) -> str | None:
    """A JSON answer as the text the rules check (numbers as typed, booleans as
    ``true``/``false``, null as empty); None for a list or an object, which no field takes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def pick_text(text: ir.Text | None, locale: str | None) -> str | None:
    """A DSL text in ``locale`` (else its first locale), or None."""
    if text is None or not text.texts:
        return None
    if locale and locale in text.texts:
        return text.texts[locale]
    if "" in text.texts:
        return text.texts[""]
    return next(iter(text.texts.values()))


def is_required(fld: ir.Field) -> bool:
    return any(r.kind == "required" and r.value for r in fld.rules)


def visible(fld: ir.Field, values: dict[str, str]) -> bool:
    """Does the field apply to these answers (its ``when`` holds, or it has none)? A
    condition the answers cannot decide counts as true, so the field is asked."""
    if fld.when is None:
        return True
    from kefu.runtime.expressions import evaluate

    try:
        return bool(evaluate(fld.when, _Answers(values)))
    except Exception:
        return True


def check_form(form: ir.Form, values: dict[str, object],
               locale: str | None = None) -> dict[str, str]:
    """Check a whole form's answers with the DSL's rules: type, ``required``, ``pattern``,
    ``length``, ``range``, ``choices``, each field only when its ``when`` holds; answers to
    fields the form does not have are refused too.

    Returns:
        Per field name, what is wrong, in the rule's own message when the DSL gives one (in
        ``locale``), else in a stock text of ``locale`` (English by default). Empty: valid.
    """
    texts = PROBLEM_TEXTS.get(locale or "en", PROBLEM_TEXTS["en"])
    errors: dict[str, str] = {}
    answers: dict[str, str] = {}
    known = {f.id for f in form.fields}
    for name, raw in values.items():
        if name not in known:
            errors[name] = texts["unknown"].format(name=name)
            continue
        text = as_text(raw)
        if text is None:
            errors[name] = texts["shape"]
        else:
            answers[name] = text
    for fld in form.fields:
        if fld.id in errors or not visible(fld, answers):
            continue
        value = answers.get(fld.id, "")
        if value == "":
            if is_required(fld):
                rule = next(r for r in fld.rules if r.kind == "required")
                errors[fld.id] = pick_text(rule.message, locale) or texts["required"]
            continue
        problem = validate_field(fld, value)
        if problem is None:
            continue
        kind, message = problem
        bounds = next((r for r in fld.rules if r.kind == kind), None)
        low, high = (bounds.value if bounds is not None and kind in ("length", "range")
                     else (None, None))
        errors[fld.id] = pick_text(message, locale) or texts.get(kind, texts["pattern"]).format(
            type=TYPE_NAMES.get(locale or "en", {}).get(fld.type, fld.type), min=_num(low),
            max=_num(high), choices=", ".join(fld.choices))
    return errors


def _num(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value
