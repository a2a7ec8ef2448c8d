"""Semantic diffs in analyst language."""

from __future__ import annotations

from pathlib import Path

from kefu.dsl import ir
from kefu.dsl.compiler import compile_sources
from kefu.dsl.loader import read_sources
from kefu.dsl.plan import semantic_diff

DEMO = Path(__file__).parents[3] / "tenants" / "demo"


def compiled(**replacements: tuple[str, str, str]) -> ir.Config:
    sources, _ = read_sources(DEMO)
    for file, old, new in replacements.values():
        assert old in sources[file]
        sources[file] = sources[file].replace(old, new)
    result = compile_sources(sources)
    assert result.ir is not None, result.render()
    return result.ir


def test_no_changes() -> None:
    assert semantic_diff(compiled(), compiled()) == []


def test_reordering_is_not_a_change() -> None:
    sources, _ = read_sources(DEMO)
    people = sources["people.kefu"].split("\n\n")
    sources["people.kefu"] = "\n\n".join(people[::-1]) + "\n"
    result = compile_sources(sources)
    assert result.ir is not None
    assert semantic_diff(compiled(), result.ir) == []


def test_queue_strategy_and_menu_option() -> None:
    new = compiled(a=("people.kefu", "strategy longest_idle", "strategy round_robin"),
                   b=("tenant.kefu", '    option 0, "agent" -> operator\n', ""))
    assert semantic_diff(compiled(), new) == [
        "queue general_q: strategy longest_idle → round_robin",
        "menu main_menu (flow main): option 0/agent removed",
    ]


def test_option_target_and_flow_no_longer_bound() -> None:
    base = ('tenant t {\n  locales zh_CN\n}\nchannel voice "1" -> a\nchannel sms "2" -> b\n'
            'flow a {\n  menu m {\n    prompt "按1"\n    option 1 -> x\n    option 2 -> y\n'
            '    on noinput 1 -> x\n    on nomatch 1 -> x\n  }\n  hangup x\n  hangup y\n}\n'
            'flow b {\n  hangup z\n}\n')
    old = compile_sources({"t.kefu": base}).ir
    new_text = base.replace("option 2 -> y", "option 2 -> x").replace("  hangup y\n", "")
    new_text = new_text.replace('channel sms "2" -> b', 'channel sms "2"')
    new = compile_sources({"t.kefu": new_text}).ir
    assert old is not None
    assert new is not None
    assert semantic_diff(old, new) == [
        "channel sms 2: no longer leads to a flow (was b)",
        "flow a: step y (hangup) removed",
        "menu m (flow a): option 2 now goes to x instead of y",
        "flow b: now unreachable (no channel or flow leads to it)",
    ]


def test_removed_workflow_state_is_breaking() -> None:
    new = compiled(a=("tenant.kefu", "states new, dispatched, fixed, visited, closed",
                      "states new, dispatched, fixed, closed"),
                   b=("tenant.kefu", "  transition visit fixed -> visited\n", ""),
                   c=("tenant.kefu", "close visited, fixed -> closed", "close fixed -> closed"),
                   d=("tenant.kefu", "followup check_back when fixed within 2d -> visited",
                      "followup check_back when fixed within 2d"))
    changes = semantic_diff(compiled(), new)
    assert changes[0] == ("BREAKING: workflow repair: state visited removed (tickets in that "
                          "state need a migration)")
    assert "workflow repair: transition visit removed" in changes
    assert "workflow repair: transition close: sources visited, fixed → fixed" in changes
