"""Flow tests (``kefu test``) run on the IVR interpreter: FIA counters, failures with their
position, offline mocks, forced outcomes, the virtual clock and coverage."""

from __future__ import annotations

from kefu.dsl.compiler import compile_sources
from kefu.runtime.ivr.flowtests import TestReport, run_tests

CONFIG = '''tenant t {
  locales zh_CN
  calendar 营业
}
calendar 营业 {
  open 周一..周五 09:00-17:00
  workday 2025-03-08 10:00-12:00 "调休"
  closed 2025-03-05
}
channel voice "1" -> f
queue q {
  max_wait 1m
}
flow f {
  branch 时间 {
    when open(营业) -> 菜单
    otherwise -> 下班
  }
  menu 菜单 {
    prompt "按1排队"
    option 1, "排队" -> 排队
    on noinput reprompt "没听到"
    on noinput 2 reprompt "还是没听到"
    on noinput 3 -> 下班
    on nomatch 1 -> 下班
  }
  enqueue 排队 q {
    on timeout -> 下班
  }
  voicemail 下班 "请留言"
}
'''


def run(body: str, config: str = CONFIG) -> TestReport:
    result = compile_sources({"tenant.kefu": config})
    assert result.ir is not None, result.render()
    return run_tests(result, {"tests/t.kefu": f'test "t" {{\n  flow f\n{body}}}\n'})


def passes(body: str, config: str = CONFIG) -> None:
    report = run(body, config)
    assert report.ok, [f.message + f" ({f.hint})" for o in report.outcomes for f in o.failures]


def test_fia_counters_pick_the_highest_handler_not_above_the_count() -> None:
    passes("  silence\n  expect say \"没听到\"\n  silence\n  expect say \"还是没听到\"\n"
           "  silence\n  expect voicemail\n")


def test_a_wrong_expectation_fails_with_position_and_what_happened() -> None:
    report = run("  press 1\n  expect voicemail\n")
    (outcome,) = report.outcomes
    assert not outcome.passed
    (failure,) = outcome.failures
    assert failure.code == "T001"
    assert (failure.span.file, failure.span.line) == ("tests/t.kefu", 4)
    assert failure.hint is not None
    assert "answered q" in failure.hint
    rendered = failure.render({"tests/t.kefu": 'test "t" {\n  flow f\n  press 1\n'
                                               '  expect voicemail\n}\n'})
    assert "tests/t.kefu:4:" in rendered
    assert 'test "t": expected voicemail, but it did not happen' in rendered


def test_input_after_the_call_ended_fails() -> None:
    report = run("  at 2025-03-03 20:00\n  press 1\n")
    (failure,) = report.outcomes[0].failures
    assert "not waiting for input" in failure.message
    assert "it already ended: voicemail 下班" in failure.message
    assert failure.span.line == 4  # the `press`


def test_unexercised_nodes_are_reported() -> None:
    report = run("  press 1\n  expect queue q\n")
    assert report.ok
    assert report.unexercised == {"f": ["下班"]}


def test_calendar_rules_on_the_virtual_clock() -> None:
    passes("  at 2025-03-03 09:00\n  expect step 菜单\n")
    passes("  at 2025-03-03 17:00\n  expect step 下班\n")  # closing time is exclusive
    passes("  at 2025-03-05 10:00\n  expect step 下班\n")  # a closed day
    passes("  at 2025-03-08 11:00\n  expect step 菜单\n")  # a Saturday workday (调休)


def test_expectations_match_in_order() -> None:
    passes("  expect step 时间\n  expect step 菜单\n  expect say \"按1\"\n  press 1\n"
           "  expect queue q\n  expect answered q\n")
    report = run("  press 1\n  expect queue q\n  expect step 菜单\n")
    assert "expected step 菜单" in report.outcomes[0].failures[0].message


def test_a_busy_queue_times_out_on_the_virtual_clock() -> None:
    passes("  agents busy\n  at 2025-03-03 16:59\n  press 1\n  expect queue q\n"
           "  expect voicemail\n")
    report = run("  agents busy\n  press 1\n  expect voicemail\n")
    sim = report.outcomes[0]
    assert sim.passed
    assert [str(x) for x in sim.events if x.kind != "step"][-2:] == ["say 请留言",
                                                                      "voicemail 下班"]


def test_conditions_and_set() -> None:
    passes("  set caller.vip = true\n  press 1\n  expect caller.vip\n"
           "  expect 菜单 == \"1\"\n")
    report = run("  press 1\n  expect caller.vip\n")
    assert report.outcomes[0].failures[0].message.endswith("this expectation does not hold")


def test_missing_mock_is_a_clear_failure() -> None:
    config = CONFIG.replace("calendar 营业\n}", 'calendar 营业\n  allow_hosts "h.cn"\n}') + (
        'http 查 {\n  get "https://h.cn/x"\n}\nflow g {\n  fetch s 查 {\n'
        '    on error, timeout -> e\n  }\n  hangup e\n}\n')
    result = compile_sources({"tenant.kefu": config})
    assert result.ir is not None, result.render()
    report = run_tests(result, {"t.kefu": 'test "x" {\n  flow g\n  expect hangup\n}\n'})
    failure = report.outcomes[0].failures[0]
    assert "no `mock 查`" in failure.message
    assert failure.hint is not None
    assert "mock 查 error" in failure.hint
    ok = run_tests(result, {"t.kefu": 'test "x" {\n  flow g\n  mock 查 timeout\n'
                                      '  expect step e\n  expect hangup e\n}\n'})
    assert ok.ok, ok.outcomes[0].failures


def test_forced_outcomes_are_checked() -> None:
    passes("  outcome 排队 timeout\n  press 1\n  expect queue q\n  expect voicemail\n")
    report = run("  outcome 排队 busy\n  press 1\n")
    assert "ends with answered, timeout, no_agents, not `busy`" in \
        report.outcomes[0].failures[0].message
    report = run("  outcome 菜单 failed\n")
    assert "enqueue or transfer" in report.outcomes[0].failures[0].message
    report = run("  outcome 没有 failed\n")
    assert "there is no step `没有`" in report.outcomes[0].failures[0].message


def test_an_unknown_statement_fails_with_a_hint() -> None:
    report = run("  presss 1\n")
    failure = report.outcomes[0].failures[0]
    assert "`presss` is not a test statement" in failure.message
    assert failure.hint is not None
    assert "press" in failure.hint


def test_at_after_the_call_started_fails() -> None:
    report = run("  press 1\n  at 2025-03-03 12:00\n")
    assert "before the call starts" in report.outcomes[0].failures[0].message


def test_broken_test_files_are_diagnosed() -> None:
    result = compile_sources({"tenant.kefu": CONFIG})
    report = run_tests(result, {"t.kefu": 'queue x {}\ntest "y" {\n  flow nope\n}\n'})
    assert {d.code for d in report.diagnostics} == {"T010", "T011"}
    assert not report.ok


def test_agents_must_be_ready_busy_or_none() -> None:
    report = run("  agents away\n  press 1\n")
    assert "agents are ready, busy or none" in report.outcomes[0].failures[0].message
    passes("  agents none\n  press 1\n  expect queue q\n  expect voicemail\n")
