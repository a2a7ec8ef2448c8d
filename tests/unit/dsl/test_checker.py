"""Checks that the corpus does not already pin down: all errors at once, warnings, hours."""

from __future__ import annotations

from kefu.dsl.compiler import compile_sources

BASE = ('tenant t {\n  locales zh_CN\n  calendar 营业\n}\n'
        'calendar 营业 {\n  open 周一..周五 09:00-17:00\n}\n')


def codes(text: str) -> list[str]:
    return [d.code for d in compile_sources({"t.kefu": text}).diagnostics]


def test_all_semantic_errors_are_reported_at_once() -> None:
    text = BASE + ('queue q {\n  require 不存在\n}\nflow f {\n  enqueue a 队列x {\n'
                   '    on timeout -> 没有\n  }\n}\nrule r {\n  on sms.recieved\n  reply "x"\n}\n')
    found = codes(text)
    assert found.count("E101") >= 3
    assert "E005" in found


def test_hours_branch_makes_the_queue_safe() -> None:
    flow = ('channel voice "1" -> f\nqueue q {\n  max_wait 1m\n}\nflow f {\n  branch b {\n'
            '    when open(营业) -> e\n    otherwise -> v\n  }\n  enqueue e q {\n'
            '    on timeout -> v\n  }\n  voicemail v "留言"\n}\n')
    assert codes(BASE + flow) == []
    unsafe = flow.replace("when open(营业) -> e", "when caller.vip -> e")
    assert "E402" in codes(BASE + unsafe)
    negated = flow.replace("when open(营业) -> e\n    otherwise -> v",
                           "when not open(营业) -> v\n    otherwise -> e")
    assert codes(BASE + negated) == []


def test_unused_definitions_are_warnings_not_errors() -> None:
    result = compile_sources({"t.kefu": BASE + 'queue q {\n  max_wait 1m\n}\nprompt p "x"\n'})
    assert result.ok
    assert {d.code for d in result.diagnostics} == {"W901"}
    assert result.ir is not None


def test_flow_level_handlers_cover_every_menu() -> None:
    flow = ('flow f {\n  on noinput 3 -> h\n  on nomatch 3 -> h\n  menu m {\n    prompt "按1"\n'
            '    option 1 -> h\n    on noinput reprompt\n  }\n  hangup h\n}\n')
    assert [c for c in codes(BASE + flow) if c.startswith("E")] == []


def test_subflow_call_and_return() -> None:
    flow = ('channel voice "1" -> f\nflow f {\n  call c 子流程 -> h\n  hangup h\n}\n'
            'flow 子流程 {\n  say s "子流程"\n  return r\n}\n')
    assert [c for c in codes(BASE + flow) if c.startswith("E")] == []
    recursive = flow.replace("call c 子流程", "call c f")
    assert "E202" in codes(BASE + recursive)


def test_ticket_fields_must_exist_on_the_workflow_form() -> None:
    text = BASE + ('form 单 {\n  field 地址 address\n}\nworkflow w {\n  form 单\n  states a, b\n'
                   '  initial a\n  final b\n  transition t a -> b\n}\nflow f {\n'
                   '  ticket k w {\n    set 地趾 = "x"\n  }\n  hangup h\n}\n')
    result = compile_sources({"t.kefu": text})
    (diag,) = result.errors
    assert diag.code == "E101"
    assert diag.hint == "did you mean `地址`?"


def test_value_maybe_unset_after_a_failed_lookup() -> None:
    text = ('tenant t {\n  locales zh_CN\n  allow_hosts "h.cn"\n}\nhttp 查 {\n'
            '  get "https://h.cn/x"\n  returns {\n    名字 text\n  }\n}\nflow f {\n'
            '  fetch 查询 查 into 客户 {\n    on error, timeout -> 问候\n  }\n'
            '  say 问候 "您好{客户.名字}"\n  hangup h\n}\n')
    result = compile_sources({"t.kefu": text})
    (warning,) = [d for d in result.diagnostics if d.code == "W029"]
    assert warning.span.line == 15
    assert "`客户` may not be set" in warning.message
    fixed = text.replace("on error, timeout -> 问候", "on error, timeout -> h")
    assert not [d for d in compile_sources({"t.kefu": fixed}).diagnostics if d.code == "W029"]


def test_shared_template_placeholders_are_checked_where_used() -> None:
    text = BASE + ('template 确认 "单号{工单.id}"\nflow f {\n  send s sms 确认 to caller.number\n'
                   '  hangup h\n}\n')
    result = compile_sources({"t.kefu": text})
    (error,) = result.errors
    assert error.code == "E210"
    assert "where it is used at t.kefu:10:14" in error.message
