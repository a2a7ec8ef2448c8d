"""The lossless syntax layer: tokens with trivia, and surgical edits of single statements.

The designer (and any tool) edits one statement without rewriting the file, hclwrite-style:
everything outside the edited statement — comments, blank lines, the analyst's own layout —
stays byte-for-byte the same, and an edit that would not parse is refused.

* :func:`tokens` splits a text into tokens whose concatenation is the text (``"".join(t.text
  for t in tokens(x)) == x``), each with its kind, offset, line and column;
* :class:`Document` addresses statements by path (``("flow", "main", "welcome")``: keyword-led
  statements are found by their first argument) and offers ``replace``, ``insert_after``,
  ``delete`` and ``set_arrow``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.dsl.diagnostics import Diagnostic
from kefu.dsl.syntax import Name, ParsedFile, Stmt, parse

_TOKEN = re.compile(r"""
    (?P<NEWLINE>\r?\n)
  | (?P<SPACE>[ \t\f\r\ufeff]+)
  | (?P<COMMENT>\#[^\n]*)
  | (?P<STRING>"(?:\\.|[^"\\\n])*"?)
  | (?P<ARROW>->)
  | (?P<RANGE>\.\.)
  | (?P<OP>==|!=|<=|>=|[<>=+])
  | (?P<PUNCT>[{}()\[\],.;])
  | (?P<WORD>[^\W]+(?:[:%\-][0-9:]+%?)*)
  | (?P<OTHER>.)
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # NEWLINE SPACE COMMENT STRING ARROW RANGE OP PUNCT WORD OTHER
    text: str
    start: int
    line: int
    column: int

    @property
    def trivia(self) -> bool:
        return self.kind in ("NEWLINE", "SPACE", "COMMENT")


def tokens(text: str) -> list[Token]:
    """Lossless tokens of ``text`` (never fails: unknown characters become OTHER)."""
    out: list[Token] = []
    line, line_start = 1, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "OTHER"
        out.append(Token(kind, m.group(), m.start(), line, m.start() - line_start + 1))
        if kind == "NEWLINE":
            line += 1
            line_start = m.end()
    return out


class EditError(ValueError):
    """An edit that would break the file; ``diagnostics`` explains why."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []


class Document:
    """A source file open for surgical edits. Each edit returns the new text and re-parses."""

    def __init__(self, text: str, file: str = "<config>") -> None:
        self.file = file
        self.text = text
        self.parsed: ParsedFile = parse(text, file)
        if not self.parsed.ok:
            raise EditError("the file has syntax errors", self.parsed.diagnostics)

    def find(self, *path: str) -> Stmt:
        """The statement at ``path``: each element matches a keyword followed by that name
        (``"flow", "main"``) or, alone, a statement's first-argument name."""
        stmts = self.parsed.stmts
        found: Stmt | None = None
        i = 0
        while i < len(path):
            key = path[i]
            match = None
            for s in stmts:
                first = s.args[0].value if s.args and isinstance(s.args[0], Name) else None
                if s.keyword == key and i + 1 < len(path) and first == path[i + 1]:
                    match, i = s, i + 2
                    break
                if first == key:
                    match, i = s, i + 1
                    break
            if match is None:
                raise KeyError("/".join(path))
            found = match
            stmts = match.block or ()
        if found is None:
            raise KeyError("/".join(path))
        return found

    def _indent_of(self, stmt: Stmt) -> str:
        line_start = self.text.rfind("\n", 0, stmt.start) + 1
        prefix = self.text[line_start:stmt.start]
        return prefix if prefix.strip() == "" else ""

    def _commit(self, new_text: str) -> str:
        parsed = parse(new_text, self.file)
        if not parsed.ok:
            raise EditError("the edit would not parse", parsed.diagnostics)
        self.text, self.parsed = new_text, parsed
        return new_text

    def replace(self, stmt: Stmt, new_source: str) -> str:
        """Replace exactly the characters of ``stmt`` (continuation lines re-indented)."""
        indent = self._indent_of(stmt)
        body = new_source.strip("\n").replace("\n", "\n" + indent)
        return self._commit(self.text[:stmt.start] + body + self.text[stmt.end:])

    def insert_after(self, stmt: Stmt, new_source: str) -> str:
        """Insert a statement on the line after ``stmt``, at the same indentation."""
        indent = self._indent_of(stmt)
        body = new_source.strip("\n").replace("\n", "\n" + indent)
        return self._commit(self.text[:stmt.end] + "\n" + indent + body + self.text[stmt.end:])

    def delete(self, stmt: Stmt) -> str:
        """Remove a statement and its line (comments on other lines are kept)."""
        line_start = self.text.rfind("\n", 0, stmt.start) + 1
        line_end = self.text.find("\n", stmt.end)
        rest_of_line = self.text[stmt.end:line_end if line_end != -1 else len(self.text)]
        if self.text[line_start:stmt.start].strip() == "" and rest_of_line.strip() == "":
            end = line_end + 1 if line_end != -1 else len(self.text)
            return self._commit(self.text[:line_start] + self.text[end:])
        return self._commit(self.text[:stmt.start] + self.text[stmt.end:])

    def set_arrow(self, stmt: Stmt, target: str) -> str:
        """Point a statement's ``-> target`` elsewhere (or add one), touching nothing else."""
        source = self.text[stmt.start:stmt.end]
        toks = tokens(source)
        depth = 0
        head_end = len(source)
        arrow_at: int | None = None
        for tok in toks:  # the head ends at the statement's own `{`
            if tok.text == "{" and depth == 0:
                head_end = tok.start
                break
            depth += tok.text in "([" and tok.kind == "PUNCT"
            depth -= tok.text in ")]" and tok.kind == "PUNCT"
            if tok.kind == "ARROW" and depth == 0:
                arrow_at = tok.start
        head = source[:head_end].rstrip()
        new_head = (head[:arrow_at].rstrip() if arrow_at is not None else head) + f" -> {target}"
        rest = source[head_end:]
        joined = new_head + (" " + rest.lstrip(" ") if rest else "")
        return self._commit(self.text[:stmt.start] + joined + self.text[stmt.end:])
