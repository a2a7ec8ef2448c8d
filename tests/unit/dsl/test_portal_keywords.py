"""DSL words for the agent portal: ``customer_form`` in the tenant block names the form
unknown customers get at screen pop, and the rule action ``answer faq [above N%]`` answers
a message from the knowledge base."""

from __future__ import annotations

from typing import Any

from kefu.dsl.compiler import compile_sources

TENANT = 'tenant t {\n  locales en\n  customer_form {FORM}\n}\n'
FORM = 'form new_customer "New customer" {\n  field name text\n}\n'


def _compile(text: str) -> Any:
    return compile_sources({"t.kefu": text})


def test_customer_form_names_a_form_and_reaches_the_compiled_tenant() -> None:
    result = _compile(TENANT.replace("{FORM}", "new_customer") + FORM)
    assert result.ok
    assert result.diagnostics == []
    assert result.ir.tenant.customer_form == "new_customer"


def test_customer_form_must_be_a_defined_form() -> None:
    result = _compile(TENANT.replace("{FORM}", "new_custmer") + FORM)
    [error] = [d for d in result.diagnostics if d.code.startswith("E")]
    assert error.code == "E101"
    assert "new_custmer" in error.message
    assert "new_customer" in (error.hint or "")


def test_answer_faq_with_and_without_a_threshold() -> None:
    text = (TENANT.replace("{FORM}", "new_customer") + FORM +
            'rule mail {\n  on email.received\n  answer faq above 75%\n}\n'
            'rule sms {\n  on sms.received\n  answer faq\n}\n')
    result = _compile(text)
    assert result.ok, result.diagnostics
    [mail, sms] = sorted(result.ir.rules, key=lambda r: r.id)
    assert [(a.kind, a.min_score) for a in mail.actions] == [("faq", 0.75)]
    assert [(a.kind, a.min_score) for a in sms.actions] == [("faq", None)]


def test_answer_faq_mistakes_are_named() -> None:
    base = TENANT.replace("{FORM}", "new_customer") + FORM
    wrong_event = _compile(base + 'rule r {\n  on ticket.created\n  answer faq\n}\n')
    [error] = [d for d in wrong_event.diagnostics if d.code.startswith("E")]
    assert "answers a customer's message" in error.message
    assert error.span.line == 10
    wrong_source = _compile(base + 'rule r {\n  on sms.received\n  answer wiki\n}\n')
    assert any("cannot answer from `wiki`" in d.message for d in wrong_source.diagnostics)
    too_much = _compile(base + 'rule r {\n  on sms.received\n  answer faq above 120%\n}\n')
    assert any("120% is not between 0% and 100%" in d.message for d in too_much.diagnostics)
