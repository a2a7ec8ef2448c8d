"""Turn Lark's parse exceptions into diagnostics an analyst can act on.

Classification runs in three layers:

1. lexical mistakes (full-width punctuation typed with a Chinese input method, an unclosed
   string, single quotes) are recognised from the offending character;
2. :data:`EXAMPLES` — the ``match_examples`` table of known mistakes. Lark matches on the parser
   state *and stack depth*, so each mistake is listed at the depths where analysts make it.
   Every example is also a test (``tests/unit/dsl/test_errors.py``);
3. a fallback that explains the expected-token set in words.

Nothing here lets a Lark exception or traceback escape: :func:`diagnose` always returns a
:class:`~kefu.dsl.diagnostics.Diagnostic`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kefu.dsl.diagnostics import Diagnostic, Span

# Full-width punctuation an IME produces, with the ASCII character the DSL expects.
FULLWIDTH = {
    "“": '"', "”": '"', "＂": '"', "‘": '"', "’": '"', "，": ",", "：": ":", "；": ";",
    "（": "(", "）": ")", "［": "[", "］": "]", "｛": "{", "｝": "}", "＝": "=", "－": "-",
    "＞": ">", "＜": "<", "。": ".", "　": " ", "＃": "#", "！": "!", "、": ",",
}

TOKEN_WORDS = {
    "NAME": "a name", "STRING": 'text in double quotes', "NUMBER": "a number",
    "DURATION": "a duration such as 30s", "PERCENT": "a percentage such as 80%",
    "DATE": "a date such as 2025-10-01", "TIME": "a time such as 08:30",
    "TIMERANGE": "a time range such as 08:00-18:00", "FUNC": "a function call",
    "ARROW": "`->`", "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`",
    "LSQB": "`[`", "RSQB": "`]`", "COMMA": "`,`", "DOT": "`.`", "RANGE": "`..`",
    "ASSIGN": "`=`", "PLUS": "`+`", "OR": "`or`", "AND": "`and`", "NOT": "`not`",
    "IN": "`in`", "CMP": "a comparison", "_NL": "the end of the line", "_SEMI": "`;`",
    "$END": "the end of the file",
}

# label -> (code, message). Messages may use {token}.
MESSAGES: dict[str, tuple[str, str]] = {
    "missing_target": ("S010", "`->` must be followed by where to go, e.g. `-> 主菜单`"),
    "missing_operand": ("S011", "this condition is incomplete: an operator needs a value after it"),
    "keyword_expected": ("S012", "a statement must start with a keyword such as `say` or "
                                 "`queue`, not {token}"),
    "brace_on_new_line": ("S013", "`{` must be on the same line as the statement it opens"),
    "unclosed_block": ("S014", "a `{` is never closed: add the missing `}`"),
    "stray_close": ("S015", "this `}` does not close any block"),
    "unclosed_paren": ("S016", "a bracket is not closed before the end of the line"),
    "trailing_comma": ("S017", "a comma must be followed by another item"),
    "double_assign": ("S018", "only one `=` per statement; compare with `==`"),
    "empty_call": ("S019", "unexpected {token} inside the brackets"),
}

EXAMPLES: dict[str, list[str]] = {
    "missing_target": ["x ->\n", "x {\n y ->\n}", "x {\n y {\n  z ->\n }\n}",
                       "x a ->\n", "x {\n y a ->\n}", "x {\n y {\n  z a ->\n }\n}",
                       "x -> }", "x {\n y -> }\n}"],
    "missing_operand": ["x a ==\n", "x {\n y a ==\n}", "x {\n y {\n  z a ==\n }\n}",
                        "x a and\n", "x {\n y a and\n}", "x {\n y {\n  z a or\n }\n}",
                        "x not\n", "x {\n y not\n}", "x {\n y {\n  z not\n }\n}",
                        "x a ==}", "x {\n y a == }\n}"],
    "keyword_expected": ['"a"\n', "1\n", "x {\n \"a\"\n}", "x {\n 1\n}",
                         "x {\n y {\n  \"a\"\n }\n}", "x {\n y {\n  1\n }\n}",
                         "x {\n 5s\n}", "x {\n ->\n}", "x {\n y {\n  -> a\n }\n}", "-> a\n"],
    "brace_on_new_line": ["x\n{\n}", "x {\n y\n {\n }\n}", "x {\n y {\n  z\n  {\n  }\n }\n}"],
    "unclosed_block": ["x {", "x {\n y\n", "x {\n y {\n", "x {\n y {\n  z {\n",
                       "x {\n y {\n}", "x {\n y {\n  z {\n }\n}"],
    "stray_close": ["}", "x\n}", "x\n}\n}"],
    "unclosed_paren": ["x f(a\n", "x (a\n", "x [a\n", "x {\n y f(a\n}", "x {\n y [a\n}",
                       "x {\n y (a\n}", "x {\n y {\n  z [a\n }\n}", "x {\n y {\n  z f(a\n }\n}"],
    "trailing_comma": ["x a,\n", "x {\n y a,\n}", "x {\n y {\n  z a,\n }\n}"],
    "double_assign": ["x a = b = c\n", "x {\n y a = b = c\n}"],
}


def _parse_example(text: str) -> None:
    from kefu.dsl.syntax import raw_parse

    raw_parse(text, "<example>")


def classify(exc: Any) -> str | None:
    """The label of :data:`EXAMPLES` that matches this parse error, or None."""
    if not hasattr(exc, "state") or exc.state is None:
        return None
    try:
        label: str | None = exc.match_examples(_parse_example, EXAMPLES, use_accepts=True,
                                               token_type_match_fallback=True)
    except Exception:
        return None
    return label


def _describe_token(tok: Any) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    text = str(tok)
    return f"`{text}`" if len(text) < 30 else f"`{text[:27]}...`"


def code_chars(line: str) -> Iterator[tuple[int, str]]:
    """The (column, character) pairs of a line that are code: outside "strings" (with their
    backslash escapes) and before a ``#`` comment. Columns count from 1."""
    in_str = escape = False
    for col, ch in enumerate(line, 1):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "#":
            return
        else:
            yield col, ch


def _unclosed_brace(text: str, file: str) -> Span | None:
    """Position of the `{` that is never closed. A `}` closes the open brace whose line has the
    same indentation when there is one (analysts indent even when they forget a brace)."""
    stack: list[tuple[int, int, int]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        indent = len(line) - len(line.lstrip())
        for col, ch in code_chars(line):
            if ch == "{":
                stack.append((lineno, col, indent))
            elif ch == "}" and stack:
                same = [i for i, entry in enumerate(stack) if entry[2] == indent]
                stack.pop(same[-1] if same and col == indent + 1 else -1)
    if not stack:
        return None
    open_line, open_col, _indent = stack[-1]
    return Span.point(file, open_line, open_col)


def _end_span(text: str, file: str) -> Span:
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return Span.point(file, len(lines), len(lines[-1]) + 1)


def diagnose(exc: Any, text: str, file: str) -> Diagnostic:
    """Explain one Lark ``UnexpectedInput`` as a Diagnostic (never raises)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        return _lexical(exc, text, file)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            span = _end_span(text, file)
        else:
            length = max(len(str(tok)), 1) if tok.type != "_NL" else 1
            span = Span(file, tok.line, tok.column, tok.line, tok.column + length)
        label = classify(exc) or _heuristic(exc, text)
        if label == "unclosed_block" or (label is None and tok.type == "$END"
                                         and "RBRACE" in exc.expected):
            opened = _unclosed_brace(text, file)
            if opened is not None:
                return Diagnostic("S014", "this `{` is never closed: add the missing `}`",
                                  opened, hint=f"the file ends at line {_end_span(text, file).line}"
                                  " while this block is still open")
        if label is not None:
            code, message = MESSAGES[label]
            return Diagnostic(code, message.replace("{token}", _describe_token(tok)), span,
                              hint=_hint_for(label))
        expected = sorted({TOKEN_WORDS.get(t, t) for t in exc.expected if not t.startswith("_")
                           or t == "_NL"})
        shown = ", ".join(expected[:6]) + (" …" if len(expected) > 6 else "")
        return Diagnostic("S020", f"unexpected {_describe_token(tok)} here", span,
                          hint=f"expected {shown}" if expected else None)
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    return Diagnostic("S020", "this text cannot be read here", Span.point(file, line, column))


_ARG_START = {"NAME", "STRING", "NUMBER", "DURATION", "PERCENT", "DATE", "TIME", "TIMERANGE",
              "FUNC", "LSQB", "LPAR", "NOT"}
_STMT_START = {"NAME", "RBRACE", "_NL", "_SEMI", "$END"}
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "and", "or", "not", "in", "+", "..")


def _heuristic(exc: Any, text: str) -> str | None:  # noqa: PLR0911 - one case per construct
    """Classify by the expected-token set and the text just before the error. This is the
    layer that does not depend on parser stack depth (see the module docstring)."""
    tok = exc.token
    expected = set(exc.expected)
    pos = tok.start_pos if tok.type != "$END" or tok.start_pos is not None else len(text)
    if pos is None:
        pos = len(text)
    before = text[:pos].rstrip(" \t")
    line_before = before.rsplit("\n", 1)[-1]
    if tok.type == "ASSIGN":
        return "double_assign"
    if expected & {"RPAR", "RSQB"} and tok.type in ("_NL", "$END", "RBRACE", "LBRACE"):
        return "unclosed_paren"
    if expected and expected <= _ARG_START | {"_NL"} and tok.type in ("_NL", "$END", "RBRACE"):
        if before.endswith("->"):
            return "missing_target"
        if before.endswith(","):
            return "trailing_comma"
        if before.endswith(_OPERATORS):
            return "missing_operand"
    if expected <= _STMT_START and tok.type == "LBRACE" and not line_before.strip():
        return "brace_on_new_line"
    if expected <= _STMT_START and tok.type in _ARG_START - {"NAME", "FUNC", "NOT"} | {"ARROW"}:
        return "keyword_expected"
    return None


def _hint_for(label: str) -> str | None:
    return {
        "keyword_expected": "text, numbers and targets go after a keyword, e.g. `say 欢迎 \"…\"`",
        "brace_on_new_line": "write `flow 主菜单 {` on one line",
        "missing_operand": "e.g. `when caller.vip == true -> 贵宾`",
        "double_assign": "`set 标记 x = 1` assigns; `when x == 1` compares",
        "trailing_comma": "remove the last comma or add the missing item",
    }.get(label)


def _lexical(exc: Any, text: str, file: str) -> Diagnostic:
    pos = exc.pos_in_stream
    ch = text[pos] if 0 <= pos < len(text) else ""
    span = Span.point(file, exc.line, exc.column)
    if ch in FULLWIDTH:
        ascii_ch = FULLWIDTH[ch]
        shown = "a space" if ascii_ch == " " else f"`{ascii_ch}`"
        return Diagnostic("S001", f"full-width `{ch}` is not part of the syntax", span,
                          hint=f"use the half-width {shown} (switch the input method to "
                               "English punctuation); inside quotes any character is fine")
    if ch == '"':
        return Diagnostic("S002", "this text is not closed: the quote has no partner on the "
                                  "same line", span, hint='add the closing `"`; use \\n for a '
                                                           "line break inside text")
    if ch == "'":
        return Diagnostic("S003", "text goes in double quotes, not single quotes", span,
                          hint='write "…" instead of \'…\'')
    if ch == "/" and text[pos:pos + 2] == "//":
        return Diagnostic("S004", "comments start with `#`, not `//`", span)
    if ch in ":-%" and pos > 0 and text[pos - 1].isdigit():
        start = pos
        while start > 0 and (text[start - 1].isdigit() or text[start - 1] in ":-."):
            start -= 1
        span = Span.point(file, exc.line, exc.column - (pos - start))
        ch = text[start]
    if ch.isdigit():
        return Diagnostic("S005", "this number, time or date is not written the way the DSL "
                                  "expects", span,
                          hint="durations look like 30s, 5m, 2h, 3d; times 08:30; dates "
                               "2025-10-01; ranges 08:00-18:00")
    shown = repr(ch) if not ch.isprintable() or ch.isspace() else f"`{ch}`"
    return Diagnostic("S006", f"unexpected character {shown}", span,
                      hint="names are letters, digits and _; text goes in double quotes")
