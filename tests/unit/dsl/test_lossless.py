"""The lossless layer: tokens round-trip, surgical edits touch one statement only."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.dsl.lossless import Document, EditError, tokens

DEMO = (Path(__file__).parents[3] / "tenants" / "demo" / "tenant.kefu").read_text(
    encoding="utf-8")


@given(st.text(max_size=200))
def test_tokens_concatenate_to_the_text(text: str) -> None:
    assert "".join(t.text for t in tokens(text)) == text


def test_token_positions() -> None:
    toks = [t for t in tokens('say 欢迎 "您好"  # 注释\nhangup') if not t.trivia]
    assert [(t.kind, t.text, t.line, t.column) for t in toks] == [
        ("WORD", "say", 1, 1), ("WORD", "欢迎", 1, 5), ("STRING", '"您好"', 1, 8),
        ("WORD", "hangup", 2, 1)]


def test_replace_one_statement_keeps_everything_else() -> None:
    doc = Document(DEMO, "tenant.kefu")
    stmt = doc.find("flow", "main", "welcome")
    new = doc.replace(stmt, 'say welcome "Hello and welcome to Acme Gas."')
    old_lines, new_lines = DEMO.splitlines(), new.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(changed) == 1
    assert new_lines[changed[0]] == '  say welcome "Hello and welcome to Acme Gas."'


def test_insert_delete_and_retarget() -> None:
    doc = Document(DEMO, "tenant.kefu")
    menu = doc.find("flow", "main", "main_menu")
    option = next(s for s in menu.block or () if s.keyword == "option")
    doc.insert_after(option, 'option 9 -> goodbye')
    assert '    option 9 -> goodbye\n' in doc.text
    timeout = next(s for s in doc.find("flow", "main", "main_menu").block or ()
                   if s.keyword == "timeout")
    doc.delete(timeout)
    assert "timeout 5s" not in doc.text
    doc.set_arrow(doc.find("flow", "main", "balance"), "operator")
    assert "pounds.\" -> operator\n" in doc.text
    doc.set_arrow(doc.find("flow", "main", "account"), "vip_check")
    assert "  ask account -> vip_check {\n" in doc.text
    assert "# three silences anywhere: a person takes over" in doc.text


def test_edits_that_do_not_parse_are_refused() -> None:
    doc = Document(DEMO, "tenant.kefu")
    before = doc.text
    with pytest.raises(EditError):
        doc.replace(doc.find("flow", "main", "welcome"), 'say welcome "unclosed')
    assert doc.text == before
    with pytest.raises(KeyError):
        doc.find("flow", "nope")


def test_set_arrow_ignores_arrows_inside_text() -> None:
    doc = Document('flow f {\n  say a "1 -> 2" # 注释\n  hangup b\n  hangup c\n}\n')
    doc.set_arrow(doc.find("flow", "f", "a"), "c")
    assert doc.text == 'flow f {\n  say a "1 -> 2" -> c # 注释\n  hangup b\n  hangup c\n}\n'
