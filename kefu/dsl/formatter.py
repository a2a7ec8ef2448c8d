"""The canonical printer behind ``kefu fmt``. No options, like gofmt and terraform fmt.

* two-space indentation, one statement per line, ``{`` on the statement's line;
* literals are printed exactly as written (a ``\\d`` in a pattern stays ``\\d``);
* operators get single spaces; parentheses only where precedence needs them;
* every comment is kept: whole-line comments stay above the statement they precede, trailing
  comments stay on their statement's line; runs of blank lines become one blank line.

Guarantees (property-tested): ``fmt(fmt(x)) == fmt(x)`` and ``parse(fmt(x)) == parse(x)``.
Layout for the designer (node positions) is never stored in the text.
"""

from __future__ import annotations

from kefu.dsl.diagnostics import Diagnostic
from kefu.dsl.syntax import (
    PRECEDENCE,
    Assign,
    Binary,
    Call,
    Comment,
    Expr,
    ListExpr,
    Literal,
    Member,
    Name,
    ParsedFile,
    Seq,
    Stmt,
    Unary,
)

INDENT = "  "


def _prec(e: Expr) -> int:
    if isinstance(e, Binary):
        return PRECEDENCE[e.op]
    if isinstance(e, Unary):
        return PRECEDENCE["not"]
    return 10


def format_expr(e: Expr, parent: int = 0) -> str:  # noqa: PLR0911 - one case per construct
    """Print one expression canonically (parenthesised only where precedence requires)."""
    if isinstance(e, Name):
        return e.value
    if isinstance(e, Literal):
        return e.raw
    if isinstance(e, Member):
        return f"{format_expr(e.obj, 10)}.{e.name}"
    if isinstance(e, Call):
        return f"{e.func}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, ListExpr):
        return f"[{', '.join(format_expr(a) for a in e.items)}]"
    if isinstance(e, Seq):
        return ", ".join(format_expr(a) for a in e.items)
    if isinstance(e, Assign):
        return f"{format_expr(e.target)} = {format_expr(e.value)}"
    if isinstance(e, Unary):
        text = f"not {format_expr(e.operand, PRECEDENCE['not'])}"
        return f"({text})" if PRECEDENCE["not"] < parent else text
    if isinstance(e, Binary):
        p = PRECEDENCE[e.op]
        sep = e.op if e.op == ".." else f" {e.op} "
        # left-associative: the right operand needs parentheses at equal precedence
        text = f"{format_expr(e.left, p)}{sep}{format_expr(e.right, p + 1)}"
        return f"({text})" if p < parent else text
    raise TypeError(type(e).__name__)  # pragma: no cover - Expr is a closed union


def format_head(stmt: Stmt) -> str:
    """The statement without its block: ``keyword args [-> target]``."""
    parts = [stmt.keyword, *(format_expr(a) for a in stmt.args)]
    if stmt.arrow is not None:
        parts.append("->")
        parts.extend(format_expr(a) for a in stmt.arrow)
    return " ".join(parts)


class _Printer:
    def __init__(self, comments: tuple[Comment, ...]) -> None:
        self.comments = sorted(comments, key=lambda c: c.start)
        self.ci = 0
        self.out: list[str] = []
        self.last_line = 0  # last source line emitted

    def _blank(self, line: int, first_in_block: bool) -> None:
        if self.out and not first_in_block and line > self.last_line + 1:
            self.out.append("")

    def flush(self, before_line: int, depth: int, first_in_block: bool) -> bool:
        """Emit whole-line comments that come before ``before_line``."""
        while self.ci < len(self.comments) and self.comments[self.ci].line < before_line:
            c = self.comments[self.ci]
            self._blank(c.line, first_in_block)
            self.out.append(INDENT * depth + c.text.rstrip())
            self.last_line = c.line
            self.ci += 1
            first_in_block = False
        return first_in_block

    def trailing(self, line: int) -> str:
        parts = ""
        while self.ci < len(self.comments) and self.comments[self.ci].line == line:
            parts += "  " + self.comments[self.ci].text.rstrip()
            self.ci += 1
        return parts

    def stmts(self, stmts: tuple[Stmt, ...], depth: int) -> None:
        first = True
        for i, s in enumerate(stmts):
            # a trailing comment belongs to the last statement on its line
            next_line = stmts[i + 1].span.line if i + 1 < len(stmts) else None
            first = self.flush(s.span.line, depth, first)
            self._blank(s.span.line, first)
            first = False
            head = INDENT * depth + format_head(s)
            end_line = s.end_line or s.span.line
            if s.block is None:
                own = self.trailing(end_line) if next_line != end_line else ""
                self.out.append(head + own)
                self.last_line = max(end_line, s.span.line)
                continue
            if not s.block and not self._comments_before(s.end_line):
                own = self.trailing(end_line) if next_line != end_line else ""
                self.out.append(head + " {}" + own)
                self.last_line = s.end_line
                continue
            child_on_head_line = s.block and s.block[0].span.line == s.span.line
            self.out.append(head + " {" + ("" if child_on_head_line
                                           else self.trailing(s.span.line)))
            self.last_line = s.span.line
            self.stmts(s.block, depth + 1)
            self.flush(s.end_line, depth + 1, False)
            own = self.trailing(s.end_line) if next_line != s.end_line else ""
            self.out.append(INDENT * depth + "}" + own)
            self.last_line = s.end_line

    def _comments_before(self, line: int) -> bool:
        return self.ci < len(self.comments) and self.comments[self.ci].line < line


def format_parsed(parsed: ParsedFile) -> str:
    """Canonical text of a parsed file (which must have no syntax errors)."""
    p = _Printer(parsed.comments)
    p.stmts(parsed.stmts, 0)
    p.flush(10**9, 0, False)
    return "\n".join(p.out) + "\n" if p.out else ""


def format_source(text: str, file: str = "<config>") -> tuple[str | None, list[Diagnostic]]:
    """Format ``text``. Returns ``(formatted, diagnostics)``; ``formatted`` is None when the
    text has syntax errors (a formatter never guesses)."""
    from kefu.dsl.syntax import parse

    parsed = parse(text, file)
    if not parsed.ok:
        return None, parsed.diagnostics
    return format_parsed(parsed), []
