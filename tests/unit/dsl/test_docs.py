"""Every `kefu` snippet in the DSL docs parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kefu.dsl.syntax import parse

DOCS = Path(__file__).parents[3] / "docs" / "dsl"
SNIPPETS = [(path.name, i, block) for path in sorted(DOCS.glob("*.md"))
            for i, block in enumerate(re.findall(r"```kefu\n(.*?)```",
                                                 path.read_text(encoding="utf-8"), re.S))]


def test_docs_exist() -> None:
    assert {p.name for p in DOCS.glob("*.md")} >= {"tutorial.md", "reference.md"}
    assert len(SNIPPETS) >= 25


@pytest.mark.parametrize(("name", "index", "block"), SNIPPETS,
                         ids=[f"{n}#{i}" for n, i, _b in SNIPPETS])
def test_snippet_parses(name: str, index: int, block: str) -> None:
    parsed = parse(block, f"{name}#{index}")
    assert parsed.ok, [d.render({f"{name}#{index}": block}) for d in parsed.diagnostics]
