"""DSL words the agent portal renders: ``script`` (a guided script, business wizard) with
its steps, and form conditions kept to what a browser evaluates (E303)."""

from __future__ import annotations

from typing import Any

from kefu.dsl.compiler import compile_sources
from kefu.platform.portal.config import condition

BASE = 'tenant t {\n  locales en\n}\nform visit "Visit" {\n  field address address\n}\n'
SCRIPT = '''script leak "Gas leak" {
  step safety "Safety first" {
    say "Ask everyone to leave the building."
  }
  step address "Where" {
    say "Take the address."
    form visit
    next send, advise
  }
  step send "Send an engineer" -> safety
  step advise "Advice only"
}
'''


def _compile(text: str) -> Any:
    return compile_sources({"t.kefu": text})


def test_a_script_compiles_with_explicit_next_steps_in_source_order() -> None:
    result = _compile(BASE + SCRIPT)
    assert result.ok, [d.message for d in result.diagnostics]
    [script] = result.ir.scripts
    assert (script.id, script.title) == ("leak", "Gas leak")
    steps = {s.id: s for s in script.steps}
    assert [s.id for s in script.steps] == ["safety", "address", "send", "advise"]
    assert steps["safety"].next == ("address",)  # falls through to the following step
    assert steps["safety"].text.texts == {"en": "Ask everyone to leave the building."}
    assert (steps["address"].form, steps["address"].next) == ("visit", ("send", "advise"))
    assert steps["send"].next == ("safety",)
    assert steps["advise"].next == ()


def test_script_mistakes_are_named() -> None:
    broken = (SCRIPT.replace("next send, advise", "next sned")
              .replace("form visit", "form vist")
              .replace('step advise "Advice only"', 'step safety "Again"'))
    found = {(d.code, d.message) for d in _compile(BASE + broken).diagnostics}
    assert ("E101", "script `leak` has no step `sned`") in found
    assert any(code == "E101" and "vist" in message for code, message in found)
    assert ("E102", "step `safety` is defined twice in script `leak`") in found
    empty = _compile(BASE + 'script nothing "Empty" {\n}\n')
    assert any(d.code == "E002" and "at least one `step`" in d.message
               for d in empty.diagnostics)


def test_a_form_condition_stays_within_what_a_browser_evaluates() -> None:
    ok = BASE.replace("field address address", 'field kind choice {\n    choices a, b\n  }\n'
                      '  field n number\n  field extra text {\n'
                      '    when kind in ["a", "b"] and not (n > 3 or kind == "b")\n  }')
    result = _compile(ok)
    assert result.ok, [d.message for d in result.diagnostics]
    when = result.ir.forms[0].fields[2].when
    assert condition(when) == [
        "and", ["in", ["var", "kind"], ["list", ["str", "a"], ["str", "b"]]],
        ["not", ["or", [">", ["var", "n"], ["num", 3]], ["==", ["var", "kind"],
                                                          ["str", "b"]]]]]
    for bad in ('len(kind) > 1', 'n + 1 > 3', 'n > 5s'):
        text = ok.replace('kind in ["a", "b"] and not (n > 3 or kind == "b")', bad)
        assert "E303" in [d.code for d in _compile(text).diagnostics], bad
