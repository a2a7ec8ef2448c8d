"""The concrete syntax of the kefu DSL: parse text into a generic statement tree.

``parse(text, file)`` returns a :class:`ParsedFile`: the statements (:class:`Stmt`), the comments
with their positions and the text itself, which together are the lossless layer that the
formatter and later surgical edits work on. Syntax errors never escape as Lark exceptions: they
become :class:`~kefu.dsl.diagnostics.Diagnostic` values (see :mod:`kefu.dsl.errors`), one per
broken top-level declaration, so that one typo does not hide the others.

The tree is generic on purpose (``keyword args* [-> args] [{ children }]``); what keywords
mean is decided by :mod:`kefu.dsl.binder`.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.dsl.diagnostics import NOWHERE, Diagnostic, Span

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

# --------------------------------------------------------------------------------------------
# Tree nodes. Positions never take part in equality, so parse(fmt(x)) == parse(x) compares
# meaning only.


@dataclass(frozen=True, slots=True)
class Name:
    value: str
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal kept exactly as written: ``kind`` is the terminal (STRING, NUMBER, DURATION,
    PERCENT, DATE, TIME, TIMERANGE) and ``raw`` its text."""

    kind: str
    raw: str
    span: Span = field(default=NOWHERE, compare=False, repr=False)

    @property
    def text(self) -> str:
        """The decoded value of a STRING literal (``\\"``, ``\\\\``, ``\\n``, ``\\t``;
        any other backslash sequence, such as ``\\d`` in a pattern, is kept as written)."""
        return _unescape(self.raw[1:-1]) if self.kind == "STRING" else self.raw


@dataclass(frozen=True, slots=True)
class Member:
    obj: Expr
    name: str
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Expr
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Seq:
    """Comma-separated arguments: ``locales zh_CN, en_US``."""

    items: tuple[Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Assign:
    target: Expr
    value: Expr
    span: Span = field(default=NOWHERE, compare=False, repr=False)


Expr = Name | Literal | Member | Call | ListExpr | Unary | Binary | Seq | Assign


@dataclass(frozen=True, slots=True)
class Stmt:
    """``keyword args* [-> arrow] [{ block }]``. ``block`` is None when there are no braces.

    ``start``/``end`` are character offsets of the whole statement in its file (the lossless
    layer uses them for surgical edits); ``close_line`` is the line of the closing brace.
    """

    keyword: str
    args: tuple[Expr, ...]
    arrow: tuple[Expr, ...] | None
    block: tuple[Stmt, ...] | None
    span: Span = field(default=NOWHERE, compare=False, repr=False)
    start: int = field(default=0, compare=False, repr=False)
    end: int = field(default=0, compare=False, repr=False)
    end_line: int = field(default=0, compare=False, repr=False)

    @property
    def keyword_span(self) -> Span:
        s = self.span
        return Span(s.file, s.line, s.column, s.line, s.column + len(self.keyword))


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    line: int
    column: int
    start: int
    end: int


@dataclass(slots=True)
class ParsedFile:
    """One parsed file: statements, comments and the original text (the lossless layer)."""

    file: str
    text: str
    stmts: tuple[Stmt, ...]
    comments: tuple[Comment, ...]
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(.)")


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


def expr_span(e: Expr) -> Span:
    return e.span


# --------------------------------------------------------------------------------------------
# Operator precedence (lowest first), resolved here rather than in the grammar.

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4,
              ">=": 4, "in": 4, "+": 5, "..": 6}


def _join(file: str, a: Span, b: Span) -> Span:
    return Span(file, a.line, a.column, b.end_line, b.end_column)


def _tok_span(file: str, tok: Any) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


class _Builder:
    """Lark inline transformer (called during LALR parsing; no parse tree is built)."""

    def __init__(self) -> None:
        self.file = "<config>"
        self.line_starts: list[int] = [0]

    # terminals become nodes as soon as they are reduced into rules below
    def _atom(self, tok: Any) -> Expr:
        if tok.type == "NAME":
            return Name(str(tok), _tok_span(self.file, tok))
        return Literal(tok.type, str(tok), _tok_span(self.file, tok))

    def _node(self, x: Any) -> Expr:
        return x if not hasattr(x, "type") else self._atom(x)

    def start(self, children: list[Any]) -> list[Stmt]:
        return list(children)

    def stmt(self, children: list[Any]) -> Stmt:
        kw = children[0]
        args: list[Expr] = []
        arrow: tuple[Expr, ...] | None = None
        block: tuple[Stmt, ...] | None = None
        end_span = _tok_span(self.file, kw)
        close_line = kw.end_line
        for c in children[1:]:
            if isinstance(c, _Arrow):
                arrow = c.items
                end_span = c.items[-1].span
                close_line = end_span.end_line
            elif isinstance(c, _Block):
                block = c.stmts
                end_span = c.close_span
                close_line = c.close_span.line
            else:
                node = self._node(c)
                args.append(node)
                end_span = node.span
        span = Span(self.file, kw.line, kw.column, end_span.end_line, end_span.end_column)
        end = self.line_starts[end_span.end_line - 1] + end_span.end_column - 1
        return Stmt(str(kw), tuple(args), arrow, block, span, kw.start_pos, end, close_line)

    def arrow(self, children: list[Any]) -> _Arrow:
        return _Arrow(tuple(self._node(c) for c in children[1:]))

    def block(self, children: list[Any]) -> _Block:
        close = children[-1]
        stmts = tuple(c for c in children[1:-1] if isinstance(c, Stmt))
        return _Block(stmts, _tok_span(self.file, close))

    def seq(self, children: list[Any]) -> Seq:
        items = tuple(self._node(c) for c in children if not _is_tok(c, "COMMA"))
        return Seq(items, _join(self.file, items[0].span, items[-1].span))

    def assign(self, children: list[Any]) -> Assign:
        target, value = self._node(children[0]), self._node(children[2])
        return Assign(target, value, _join(self.file, target.span, value.span))

    def expr(self, children: list[Any]) -> Expr:
        if len(children) == 1:
            return self._node(children[0])
        items = [c if (hasattr(c, "type") and c.type in _OPS) else self._node(c)
                 for c in children]
        pos = [0]
        return self._pratt(items, pos, 0)

    def _pratt(self, items: list[Any], pos: list[int], min_prec: int) -> Expr:
        first = items[pos[0]]
        pos[0] += 1
        if hasattr(first, "type"):  # a NOT token
            operand = self._pratt(items, pos, PRECEDENCE["not"])
            left: Expr = Unary("not", operand, _join(self.file, _tok_span(self.file, first),
                                                     operand.span))
        else:
            left = first
        while pos[0] < len(items):
            op = items[pos[0]]
            prec = PRECEDENCE[str(op)] if op.type != "CMP" else 4
            if prec < min_prec:
                break
            pos[0] += 1
            right = self._pratt(items, pos, prec + 1)
            left = Binary(str(op), left, right, _join(self.file, left.span, right.span))
        return left

    def member(self, children: list[Any]) -> Member:
        obj = self._node(children[0])
        name = children[2]
        return Member(obj, str(name), _join(self.file, obj.span, _tok_span(self.file, name)))

    def call(self, children: list[Any]) -> Call:
        func = children[0]
        args = tuple(self._node(c) for c in children[1:-1]
                     if c is not None and not _is_tok(c, "COMMA"))
        span = _join(self.file, _tok_span(self.file, func), _tok_span(self.file, children[-1]))
        return Call(str(func)[:-1], args, span)

    def listexpr(self, children: list[Any]) -> ListExpr:
        items = tuple(self._node(c) for c in children[1:-1]
                      if c is not None and not _is_tok(c, "COMMA"))
        return ListExpr(items, _join(self.file, _tok_span(self.file, children[0]),
                                     _tok_span(self.file, children[-1])))

    def group(self, children: list[Any]) -> Expr:
        inner = self._node(children[1])
        span = _join(self.file, _tok_span(self.file, children[0]),
                     _tok_span(self.file, children[2]))
        return dataclasses.replace(inner, span=span)


_OPS = {"OR", "AND", "NOT", "CMP", "IN", "PLUS", "RANGE"}


def _is_tok(x: Any, kind: str) -> bool:
    return getattr(x, "type", None) == kind


@dataclass(slots=True)
class _Arrow:
    items: tuple[Expr, ...]


@dataclass(slots=True)
class _Block:
    stmts: tuple[Stmt, ...]
    close_span: Span


# --------------------------------------------------------------------------------------------
# The parser. Built once per process (≈30 ms) and guarded by a lock, because the inline
# transformer and the comment callback carry per-parse state.

_lock = threading.Lock()
_parser: Any = None
_builder = _Builder()
_comments: list[Any] = []


def get_parser() -> Any:
    """The shared Lark LALR parser (inline transformer, comment callback)."""
    global _parser  # noqa: PLW0603 - a process-wide cache of an immutable-after-build object
    if _parser is None:
        from lark import Lark

        _parser = Lark(
            GRAMMAR_PATH.read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            transformer=_builder,  # callbacks take the list of children
            lexer_callbacks={"COMMENT": _comments.append},
            maybe_placeholders=True,
            # The analysed grammar is cached (by grammar hash and Lark version) in the temp
            # directory: ≈5 ms to load instead of ≈80 ms to build, for `kefu check` start-up.
            cache=True,
        )
    return _parser


def raw_parse(text: str, file: str = "<config>") -> tuple[list[Stmt], list[Comment]]:
    """Parse ``text`` or raise Lark's ``UnexpectedInput`` (internal; use :func:`parse`)."""
    parser = get_parser()
    with _lock:
        _builder.file = file
        _builder.line_starts = line_starts(text)
        _comments.clear()
        # Parsing allocates hundreds of thousands of small acyclic objects; the cyclic
        # collector would rescan them over and over (≈20 % of the time on large files).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            stmts = parser.parse(text)
            comments = [Comment(str(t), t.line, t.column, t.start_pos, t.end_pos)
                        for t in _comments]
        finally:
            _comments.clear()
            if gc_was_enabled:
                gc.enable()
    return stmts, comments


def parse(text: str, file: str = "<config>") -> ParsedFile:
    """Parse one file of kefu DSL.

    Args:
        text: the file's contents (str; a leading BOM is ignored).
        file: the name used in diagnostics.

    Returns:
        A :class:`ParsedFile`. When the text has syntax errors, ``diagnostics`` holds one per
        broken top-level declaration and ``stmts`` the declarations that did parse.

    Never raises for bad input.
    """
    from lark.exceptions import UnexpectedInput

    try:
        stmts, comments = raw_parse(text, file)
        return ParsedFile(file, text, tuple(stmts), tuple(comments), [])
    except UnexpectedInput as exc:
        from kefu.dsl.errors import diagnose

        first = diagnose(exc, text, file)
    except RecursionError:
        return ParsedFile(file, text, (), (), [Diagnostic(
            "S099", "this statement is nested too deeply to read", Span.point(file, 1, 1))])
    # Recovery: parse every top-level chunk on its own, so each broken declaration reports
    # once and the others still parse.
    diagnostics: list[Diagnostic] = []
    good: list[Stmt] = []
    comments_all: list[Comment] = []
    for offset_line, chunk in split_top_level(text):
        padded = "\n" * (offset_line - 1) + chunk
        try:
            stmts, comments = raw_parse(padded, file)
        except UnexpectedInput as exc:
            diagnostics.append(diagnose(exc, padded, file))
        except RecursionError:
            diagnostics.append(Diagnostic("S099", "this statement is nested too deeply to read",
                                          Span.point(file, offset_line, 1)))
        else:
            good.extend(stmts)
            comments_all.extend(comments)
    if not diagnostics:  # the chunks parse alone but not together (e.g. a stray `}`)
        diagnostics.append(first)
    diagnostics.sort(key=Diagnostic.sort_key)
    return ParsedFile(file, text, tuple(good), tuple(comments_all), diagnostics)


def line_starts(text: str) -> list[int]:
    """Offsets of the first character of every line (index 0 is line 1)."""
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def split_top_level(text: str) -> list[tuple[int, str]]:
    """Split text into top-level declarations: a new chunk starts on a line that begins outside
    any brace, string or comment. Returns ``(first_line, chunk_text)`` pairs."""
    chunks: list[tuple[int, str]] = []
    depth = 0
    current: list[str] = []
    start_line = 1
    for lineno, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        starts_decl = depth <= 0 and stripped and not stripped.startswith(("#", "}", "{", "->"))
        if starts_decl and current and any(s.strip() for s in current):
            chunks.append((start_line, "\n".join(current)))
            current = []
            start_line = lineno
            depth = 0
        if not current:
            start_line = lineno
        current.append(line)
        depth += _brace_delta(line)
    if current and any(s.strip() for s in current):
        chunks.append((start_line, "\n".join(current)))
    return chunks


def _brace_delta(line: str) -> int:
    from kefu.dsl.errors import code_chars

    return sum(1 if ch == "{" else -1 for _col, ch in code_chars(line) if ch in "{}")


def walk(stmts: tuple[Stmt, ...] | list[Stmt]) -> list[Stmt]:
    """All statements, depth first, in source order."""
    out: list[Stmt] = []
    stack = list(reversed(stmts))
    while stack:
        s = stack.pop()
        out.append(s)
        if s.block:
            stack.extend(reversed(s.block))
    return out
