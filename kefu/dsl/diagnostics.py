"""Diagnostics an analyst can act on: code, severity, file, line, column, caret excerpt, hint.

Every stage of the pipeline (syntax, binding, checks, flow tests) reports problems as
:class:`Diagnostic` values and keeps going; nothing in ``kefu.dsl`` raises for a bad config
except :class:`DslError`, which carries the full list.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Span:
    """A region of one source file. Lines and columns are 1-based and count characters."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, file: str, line: int, column: int) -> Span:
        return cls(file, line, column, line, column + 1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<config>", 1, 1, 1, 2)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a config.

    Attributes:
        code: stable identifier (``S…`` syntax, ``E…`` errors, ``W…`` warnings, ``T…`` tests).
        message: one plain sentence for an analyst.
        span: where; the caret excerpt underlines it.
        severity: errors block compilation, warnings do not.
        hint: an optional suggestion, e.g. ``did you mean `repair`?``.
    """

    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
        }

    def render(self, sources: dict[str, str] | None = None) -> str:
        """Format as ``file:line:col: error[CODE]: message`` plus a caret excerpt and the hint."""
        head = f"{self.span}: {self.severity.value}[{self.code}]: {self.message}"
        lines = [head]
        text = (sources or {}).get(self.span.file)
        if text is not None:
            lines.extend(excerpt(text, self.span))
        lines.extend(f"  = note: {note}" for note in self.notes)
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)


class DslError(Exception):
    """Raised by the convenience APIs when a config has errors; ``.diagnostics`` has them all."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all(diagnostics, self.sources))


def _width(text: str) -> int:
    """Terminal display width: CJK and full-width characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def excerpt(text: str, span: Span) -> list[str]:
    """The source line of ``span`` with a caret line under it (CJK-width aware)."""
    all_lines = text.splitlines()
    if not 1 <= span.line <= len(all_lines):
        if span.line == len(all_lines) + 1 or not all_lines:
            source_line = ""
        else:
            return []
    else:
        source_line = all_lines[span.line - 1].expandtabs(1)
    gutter = str(span.line)
    pad = " " * len(gutter)
    start = max(span.column - 1, 0)
    if span.end_line == span.line:
        stop = max(span.end_column - 1, start + 1)
    else:
        stop = max(len(source_line), start + 1)
    prefix = _width(source_line[:start])
    marked = max(_width(source_line[start:stop]), 1)
    return [
        f" {pad} |",
        f" {gutter} | {source_line}",
        f" {pad} | {' ' * prefix}{'^' * marked}",
    ]


def render_all(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    return "\n\n".join(d.render(sources) for d in sorted(diagnostics, key=Diagnostic.sort_key))


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, cut off above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(word: str, candidates: object) -> str | None:
    """The closest candidate to ``word`` as a hint, or None when nothing is close.

    Short Chinese names differ by one character more often than English ones, so the limit is
    a third of the length, at least 1.
    """
    names = sorted({str(c) for c in candidates})  # type: ignore[attr-defined]
    best: tuple[int, str] | None = None
    if len(word) >= 3:
        limit = max(1, len(word) // 3)
    else:  # one-letter typos in two-letter names are guesses, except for Chinese names
        limit = 1 if len(word) == 2 and not word.isascii() else 0
    lowered = word.lower()
    for name in names:
        if name == word:
            continue
        dist = 0 if name.lower() == lowered else _distance(lowered, name.lower(), limit)
        if dist <= limit and (best is None or dist < best[0]):
            best = (dist, name)
    return f"did you mean `{best[1]}`?" if best else None
