"""The match_examples table: every example is a test, plus the lexical classifier."""

from __future__ import annotations

import pytest

from kefu.dsl.errors import EXAMPLES, MESSAGES, diagnose
from kefu.dsl.syntax import parse, raw_parse

CASES = [(label, example) for label, examples in EXAMPLES.items() for example in examples]


@pytest.mark.parametrize(("label", "example"), CASES)
def test_each_example_is_classified_as_its_label(label: str, example: str) -> None:
    from lark.exceptions import UnexpectedInput

    with pytest.raises(UnexpectedInput) as info:
        raw_parse(example)
    diag = diagnose(info.value, example, "example.kefu")
    assert diag.code == MESSAGES[label][0]


def test_every_label_has_a_message() -> None:
    assert set(EXAMPLES) <= set(MESSAGES)


@pytest.mark.parametrize(("text", "code", "column"), [
    ("x “a”", "S001", 3), ("x a，b", "S001", 4), ("x （a）", "S001", 3), ("x a：b", "S001", 4),
    ('x "open', "S002", 3), ("x 'a'", "S003", 3), ("// c", "S004", 1), ("x 08:0", "S005", 3),
    ("x @", "S006", 3), ("x $", "S006", 3),
])
def test_lexical_mistakes(text: str, code: str, column: int) -> None:
    (diag,) = parse(text + "\n", "f.kefu").diagnostics
    assert (diag.code, diag.span.line, diag.span.column) == (code, 1, column)
    assert diag.hint or diag.code == "S004"


def test_fallback_message_names_tokens_in_words() -> None:
    (diag,) = parse("x ]\n").diagnostics
    assert diag.code == "S020"
    assert "__ANON" not in diag.message + (diag.hint or "")
    assert "`]`" in diag.message


def test_unclosed_block_points_at_the_open_brace() -> None:
    (diag,) = parse("flow f {\n  menu m {\n    prompt \"x\"\n}\n").diagnostics
    assert (diag.code, diag.span.line, diag.span.column) == ("S014", 2, 10)


def test_caret_excerpt_is_cjk_aware() -> None:
    text = "队列 报修 “x”\n"
    (diag,) = parse(text, "f.kefu").diagnostics
    rendered = diag.render({"f.kefu": text})
    lines = rendered.splitlines()
    assert lines[0].startswith("f.kefu:1:7: error[S001]")
    assert lines[3].index("^") - lines[2].index("队") == 10  # 队列 报修 + space = 10 cells
