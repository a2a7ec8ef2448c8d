"""The corpus of broken configs: each file names the diagnostics it must produce.

``tests/fixtures/dsl/broken/*.kefu`` end with lines ``# expect: CODE LINE:COLUMN words``; the
config must produce exactly those errors (code, line and column) and each message or hint must
contain the words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kefu.dsl.compiler import compile_sources

CORPUS = Path(__file__).parents[2] / "fixtures" / "dsl" / "broken"
EXPECT = re.compile(r"^# expect: (\w+) (\d+):(\d+) (.+)$", re.MULTILINE)
FILES = sorted(CORPUS.glob("*.kefu"))


def test_the_corpus_is_large_enough() -> None:
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_broken_config(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = [(code, int(line), int(col), words) for code, line, col, words
                in EXPECT.findall(text)]
    assert expected, "every corpus file states what it expects"
    result = compile_sources({path.name: text})
    assert result.ir is None
    errors = result.errors
    got = sorted((d.code, d.span.line, d.span.column) for d in errors)
    assert got == sorted((c, li, co) for c, li, co, _w in expected), result.render()
    for code, line, col, words in expected:
        matching = [d for d in errors if (d.code, d.span.line, d.span.column) == (code, line, col)
                    and words in f"{d.message} {d.hint or ''}"]
        assert matching, result.render()
        diag = matching[0]
        rendered = diag.render(result.sources)
        assert f"{path.name}:{line}:{col}" in rendered
        assert "^" in rendered  # a caret excerpt
