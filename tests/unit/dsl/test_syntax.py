"""The grammar and the statement tree: lexer priorities, precedence, positions, comments."""

from __future__ import annotations

import pytest

from kefu.dsl.syntax import Binary, Call, Literal, Member, Name, Seq, Unary, parse, walk


def one_arg(text: str):  # type: ignore[no-untyped-def]
    parsed = parse(f"x {text}\n")
    assert parsed.ok, parsed.diagnostics
    (stmt,) = parsed.stmts
    return stmt.args


@pytest.mark.parametrize(("text", "kind"), [
    ("5s", "DURATION"), ("500ms", "DURATION"), ("3d", "DURATION"), ("90m", "DURATION"),
    ("08:00-18:00", "TIMERANGE"), ("8:30-12:30", "TIMERANGE"), ("2025-12-25", "DATE"),
    ("08:30", "TIME"), ("75%", "PERCENT"), ("12.5%", "PERCENT"), ("42", "NUMBER"),
    ("1.5", "NUMBER"), ('"客服"', "STRING"), (r'"^\d{6}$"', "STRING"),
])
def test_literal_terminals_win_over_prefixes(text: str, kind: str) -> None:
    (arg,) = one_arg(text)
    assert isinstance(arg, Literal)
    assert (arg.kind, arg.raw) == (kind, text)


def test_ranges_are_not_decimals() -> None:
    (arg,) = one_arg("1..5")
    assert isinstance(arg, Binary)
    assert (arg.op, arg.left, arg.right) == ("..", Literal("NUMBER", "1"), Literal("NUMBER", "5"))


def test_chinese_names_and_day_ranges() -> None:
    (arg,) = one_arg("周一..周五")
    assert arg == Binary("..", Name("周一"), Name("周五"))


def test_a_unit_glued_to_a_name_is_not_a_duration() -> None:
    args = one_arg("5sec")
    assert args == (Literal("NUMBER", "5"), Name("sec"))


def test_precedence_not_binds_looser_than_comparison() -> None:
    (arg,) = one_arg("not caller.vip == true and open(营业时间) or x")
    assert arg == Binary(
        "or",
        Binary("and",
               Unary("not", Binary("==", Member(Name("caller"), "vip"), Name("true"))),
               Call("open", (Name("营业时间"),))),
        Name("x"))


def test_parentheses_group() -> None:
    (arg,) = one_arg("(a or b) and c")
    assert arg == Binary("and", Binary("or", Name("a"), Name("b")), Name("c"))


def test_a_space_before_a_parenthesis_makes_two_arguments() -> None:
    assert one_arg("f (x)") == (Name("f"), Name("x"))


def test_commas_make_a_sequence() -> None:
    (arg,) = one_arg("zh_CN, en_US")
    assert arg == Seq((Name("zh_CN"), Name("en_US")))


def test_statement_shape_positions_and_offsets() -> None:
    text = 'flow 主流程 {\n  say 欢迎 "您好" -> 菜单  # 问候\n}\n'
    parsed = parse(text, "a.kefu")
    (flow,) = parsed.stmts
    assert flow.block is not None
    (say,) = flow.block
    assert say.keyword == "say"
    assert say.arrow == (Name("菜单"),)
    assert (say.span.file, say.span.line, say.span.column) == ("a.kefu", 2, 3)
    assert text[say.start:say.end] == 'say 欢迎 "您好" -> 菜单'
    assert text[flow.start:flow.end] == text.rstrip("\n")
    assert flow.end_line == 3
    assert [c.text for c in parsed.comments] == ["# 问候"]
    assert parsed.comments[0].line == 2


def test_semicolons_separate_statements() -> None:
    parsed = parse("x { a 1; b 2 }; y")
    assert [s.keyword for s in walk(parsed.stmts)] == ["x", "a", "b", "y"]


def test_string_escapes() -> None:
    (arg,) = one_arg(r'"他说\"好\"\n\d"')
    assert isinstance(arg, Literal)
    assert arg.text == '他说"好"\n\\d'


def test_empty_and_comment_only_files_parse() -> None:
    assert parse("").ok
    assert parse("# 只有注释\n\n# 第二行\n").ok
    assert parse("\ufefftenant t {}\n").ok


def test_recovery_reports_each_broken_declaration_and_keeps_the_rest() -> None:
    text = 'tenant t {\n  name “x”\n}\nqueue q {\n  max_wait 5m\n}\nflow f {\n  say a ->\n}\n'
    parsed = parse(text)
    assert [(d.code, d.span.line) for d in parsed.diagnostics] == [("S001", 2), ("S010", 8)]
    assert [s.keyword for s in parsed.stmts] == ["queue"]


def test_grammar_has_no_shift_reduce_conflicts() -> None:
    """Lark's strict mode, minus the regex-collision check that needs `interegular` (not
    installed); collisions between literal-ish terminals are covered by the lexer tests."""
    from lark import Lark
    from lark.common import ParserConf
    from lark.parsers.lalr_analysis import LALR_Analyzer

    from kefu.dsl.syntax import GRAMMAR_PATH

    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr")
    analysis = LALR_Analyzer(ParserConf(lark.rules, {}, lark.options.start), strict=True)
    analysis.compute_lalr()  # raises GrammarError on any conflict in strict mode
    assert analysis.parse_table.states
