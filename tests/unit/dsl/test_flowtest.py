"""The offline step-through used by flow tests: FIA counters, failures, coverage."""

from __future__ import annotations

from kefu.dsl.compiler import compile_sources
from kefu.dsl.flowtest import calendar_open, run_tests

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


def run(body: str, config: str = CONFIG):  # type: ignore[no-untyped-def]
    result = compile_sources({"tenant.kefu": config})
    assert result.ir is not None, result.render()
    return run_tests(result, {"tests/t.kefu": f'test "t" {{\n  flow f\n{body}}}\n'})


def test_fia_counters_pick_the_highest_handler_not_above_the_count() -> None:
    report = run("  silence\n  expect say \"没听到\"\n  silence\n  expect say \"还是没听到\"\n"
                 "  silence\n  expect voicemail\n")
    assert report.ok, report.outcomes[0].failures


def test_a_wrong_expectation_fails_with_position_and_what_happened() -> None:
    report = run("  press 1\n  expect voicemail\n")
    (outcome,) = report.outcomes
    assert not outcome.passed
    (failure,) = outcome.failures
    assert failure.code == "T001"
    assert (failure.span.file, failure.span.line) == ("tests/t.kefu", 4)
    assert failure.hint is not None
    assert "answered q" in failure.hint


def test_input_after_the_call_ended_fails() -> None:
    report = run("  at 2025-03-03 20:00\n  press 1\n")
    assert "not waiting for input" in report.outcomes[0].failures[0].message


def test_unexercised_nodes_are_reported() -> None:
    report = run("  press 1\n  expect queue q\n")
    assert report.ok
    assert report.unexercised == {"f": ["下班"]}


def test_calendar_rules() -> None:
    import datetime as dt

    result = compile_sources({"tenant.kefu": CONFIG})
    assert result.ir is not None
    cal = result.ir.calendars[0]
    assert calendar_open(cal, dt.datetime(2025, 3, 3, 9, 0))  # noqa: DTZ001
    assert not calendar_open(cal, dt.datetime(2025, 3, 3, 17, 0))  # noqa: DTZ001
    assert not calendar_open(cal, dt.datetime(2025, 3, 5, 10, 0))  # noqa: DTZ001 - closed day
    assert calendar_open(cal, dt.datetime(2025, 3, 8, 11, 0))  # noqa: DTZ001 - a Saturday workday


def test_missing_mock_is_a_clear_failure() -> None:
    config = CONFIG.replace("calendar 营业\n}", 'calendar 营业\n  allow_hosts "h.cn"\n}') + (
        'http 查 {\n  get "https://h.cn/x"\n}\nflow g {\n  fetch s 查 {\n'
        '    on error, timeout -> e\n  }\n  hangup e\n}\n')
    result = compile_sources({"tenant.kefu": config})
    assert result.ir is not None, result.render()
    report = run_tests(result, {"t.kefu": 'test "x" {\n  flow g\n  expect hangup\n}\n'})
    assert "no `mock 查`" in report.outcomes[0].failures[0].message


def test_broken_test_files_are_diagnosed() -> None:
    result = compile_sources({"tenant.kefu": CONFIG})
    report = run_tests(result, {"t.kefu": 'queue x {}\ntest "y" {\n  flow nope\n}\n'})
    assert {d.code for d in report.diagnostics} == {"T010", "T011"}
    assert not report.ok
