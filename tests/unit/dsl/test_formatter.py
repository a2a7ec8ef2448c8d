"""The formatter: canonical, idempotent, meaning-preserving, comment-keeping."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.dsl.formatter import format_source
from kefu.dsl.syntax import parse

TENANTS = Path(__file__).parents[3] / "tenants"
TENANT_FILES = sorted(TENANTS.rglob("*.kefu"))

NAMES = st.sampled_from(["a", "b", "x1", "报修", "主菜单", "caller", "open_q", "_z", "zh_CN"])
KEYWORDS = st.sampled_from(["tenant", "queue", "say", "when", "option", "on", "set", "x", "队列"])
LITERALS = st.sampled_from(['"text"', '"客服 {caller.number}"', r'"^\d{6}$"', "5s", "500ms",
                            "08:00-18:00", "2025-10-01", "09:30", "80%", "42", "1.5", '""'])
SPACE = st.sampled_from([" ", "  ", "\t", " \t "])


def _expr(depth: int) -> st.SearchStrategy[str]:
    atom = st.one_of(NAMES, LITERALS)
    if depth <= 0:
        return atom
    sub = _expr(depth - 1)
    return st.one_of(
        atom,
        st.tuples(sub, st.sampled_from(["==", "!=", "<", ">=", "and", "or", "in", "+", ".."]),
                  sub).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        sub.map(lambda e: f"not {e}"),
        sub.map(lambda e: f"({e})"),
        st.tuples(NAMES, NAMES).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(NAMES, st.lists(sub, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.lists(sub, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
    )


@st.composite
def _stmt(draw: st.DrawFn, depth: int) -> str:
    sp = draw(SPACE)
    parts = [draw(KEYWORDS)]
    args = draw(st.lists(_expr(2), max_size=3))
    if args and draw(st.booleans()):
        args = [", ".join(args)]
    if draw(st.booleans()) and not args:
        args = [f"{draw(NAMES)} = {draw(_expr(1))}"]
    parts += args
    if draw(st.booleans()):
        parts += ["->", draw(NAMES)]
    text = sp.join(parts)
    if draw(st.booleans()):
        text += f"{draw(SPACE)}# {draw(st.sampled_from(['注释', 'note', '', 'x # y']))}"
        text += "\n"
        return text
    if depth > 0 and draw(st.booleans()):
        children = draw(st.lists(_stmt(depth - 1), max_size=3))
        seps = draw(st.lists(st.sampled_from(["\n", ";", "\n\n\n", "\n  # 块内注释\n"]),
                             min_size=len(children), max_size=len(children)))
        # after a comment only a newline can end the line
        body = "".join(c.rstrip("\n") + ("\n" if "#" in c.splitlines()[-1] else s)
                       for c, s in zip(children, seps, strict=True))
        text += " {" + draw(st.sampled_from(["\n", " ", "  # 开头\n"])) + body + "}"
    return text + "\n"


CONFIGS = st.lists(_stmt(2), max_size=6).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS)
def test_format_is_idempotent_and_preserves_meaning(text: str) -> None:
    parsed = parse(text)
    assert parsed.ok, (text, parsed.diagnostics)
    once, diags = format_source(text)
    assert once is not None, diags
    assert parse(once).stmts == parsed.stmts
    twice, _ = format_source(once)
    assert twice == once
    assert [c.text.rstrip() for c in parse(once).comments] == \
        [c.text.rstrip() for c in parsed.comments]


@pytest.mark.parametrize("path", TENANT_FILES, ids=lambda p: str(p.relative_to(TENANTS)))
def test_example_tenants_are_in_canonical_form(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    formatted, _ = format_source(text)
    assert formatted == text


def test_canonical_layout_and_comments() -> None:
    text = ('# 头\n\n\n tenant   t{ name "x" ;locales a,b  # 行尾\n# 块尾\n}\nflow f { hangup h }'
            '\nqueue q {}\n')
    formatted, _ = format_source(text)
    assert formatted == ('# 头\n\ntenant t {\n  name "x"\n  locales a, b  # 行尾\n  # 块尾\n}\n'
                         'flow f {\n  hangup h\n}\nqueue q {}\n')


def test_parentheses_only_where_needed() -> None:
    formatted, _ = format_source("when ((a or b)) and (not (c == d)) -> x\nwhen (a and b) or c\n")
    assert formatted == "when (a or b) and not c == d -> x\nwhen a and b or c\n"


def test_broken_text_is_not_formatted() -> None:
    formatted, diags = format_source("flow f {\n")
    assert formatted is None
    assert diags[0].code == "S014"
