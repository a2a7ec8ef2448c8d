"""Fuzzing: random and mutated input only ever produces our own diagnostics."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.dsl.compiler import compile_sources
from kefu.dsl.formatter import format_source
from kefu.dsl.syntax import parse

TENANTS = Path(__file__).parents[3] / "tenants"
SEED = (TENANTS / "demo" / "tenant.kefu").read_text(encoding="utf-8")
ALPHABET = st.sampled_from(list('{}()[],.;:=<>!+-#"\'\\ \n\t\r') + list("abc01_59sm%")
                           + list("报修队列“”，：（）") + ["->", "..", "==", "flow", "say",
                                                          "when", "not", "and", "08:00",
                                                          "2025-10-01", "\ufeff", "\x00"])


def _assert_own(diags: list) -> None:  # type: ignore[type-arg]
    for d in diags:
        assert d.code[0] in "SEWT", d
        assert d.code[1:].isdigit(), d
        assert "Token(" not in d.message
        assert "__ANON" not in d.message
        assert d.span.line >= 1
        assert d.span.column >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_random_text_never_escapes(text: str) -> None:
    parsed = parse(text, "fuzz.kefu")
    _assert_own(parsed.diagnostics)
    result = compile_sources({"tenant.kefu": text})
    _assert_own(result.diagnostics)
    for d in result.diagnostics:
        d.render(result.sources)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_tenant_never_escapes(data: st.DataObject) -> None:
    text = SEED
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "swap"]))
        if action == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 8)):]
        elif action == "insert":
            text = text[:pos] + data.draw(ALPHABET) + text[pos:]
        else:
            other = data.draw(st.integers(0, len(text)))
            a, b = sorted((pos, other))
            text = text[:a] + text[b:b + 5] + text[a + 5:b] + text[a:a + 5] + text[b + 5:]
    result = compile_sources({"tenant.kefu": text})
    _assert_own(result.diagnostics)
    formatted, diags = format_source(text, "tenant.kefu")
    _assert_own(diags)
    if formatted is not None:
        assert parse(formatted).stmts == parse(text).stmts
