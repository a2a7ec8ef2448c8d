"""Input handling: barge-in, no-input/no-match counters and handlers, retries, validation,
presentation per channel mode, invalid triggers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kefu.dsl import ir
from kefu.runtime.ivr import (
    CallerHungUp,
    Collect,
    Digits,
    Ended,
    Enqueue,
    Interpreter,
    InvalidEvent,
    IvrError,
    Lookup,
    LookupResult,
    Mode,
    NoInput,
    PromptFinished,
    Say,
    Speech,
    StartTimer,
    State,
    StopPrompts,
    Text,
    Timer,
    Touch,
    run_script,
)
from kefu.runtime.ivr.actions import Action

from .conftest import MONDAY_10, tenant

T = MONDAY_10


def said(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def finish_prompts(interp: Interpreter, actions: list[Action], now: dt.datetime) -> list[Action]:
    """Play every Say of ``actions`` to its end; return what that produced."""
    out: list[Action] = []
    for a in actions:
        if isinstance(a, Say):
            out.extend(interp.feed(PromptFinished(), now))
    return out


def at_menu(lab: ir.Config, mode: Mode = Mode.TEXT, **kw: object) -> Interpreter:
    interp = Interpreter(lab, "main", mode=mode, **kw)  # type: ignore[arg-type]
    interp.start(T)
    assert interp.node == "top"
    return interp


# ------------------------------------------------------------------ barge-in


def test_input_during_a_prompt_stops_it_and_counts(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main")
    first = interp.start(T)
    assert said(first) == ["Welcome.", "Press 1 for account, 2 for help, 3 for size."]
    assert all(a.barge_in for a in first if isinstance(a, Say))
    assert not any(isinstance(a, StartTimer) and a.name.startswith("noinput") for a in first)
    out = interp.feed(Digits("1"), T + dt.timedelta(seconds=1))
    assert isinstance(out[0], StopPrompts)
    assert said(out) == ["Key in your four digit PIN."]
    assert interp.node == "pin"
    assert any("barge-in" in h[2] for h in interp.history)


def test_without_barge_in_input_during_a_prompt_is_discarded(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", barge_in=False)
    first = interp.start(T)
    assert not any(a.barge_in for a in first if isinstance(a, Say))
    assert interp.feed(Digits("1"), T) == []
    assert interp.node == "top"
    after = finish_prompts(interp, first, T + dt.timedelta(seconds=3))
    timers = [a for a in after if isinstance(a, StartTimer)]
    assert [t.due for t in timers] == [T + dt.timedelta(seconds=8)]  # timeout after prompts
    out = interp.feed(Digits("1"), T + dt.timedelta(seconds=4))
    assert not any(isinstance(a, StopPrompts) for a in out)
    assert interp.node == "pin"


def test_hangup_and_queue_prompts_do_not_allow_barge_in(lab: ir.Config) -> None:
    t = run_script(lab, "main", [Digits("3"), Speech("large")], T)
    goodbye = [a for a in t.actions if isinstance(a, Say) and a.text == "Goodbye."]
    assert goodbye
    assert not goodbye[0].barge_in


# ------------------------------------------------------------------ no-input / no-match


def test_noinput_timer_reprompts_and_stale_timers_are_ignored(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main")
    first = interp.start(T)
    timer = next(a for a in finish_prompts(interp, first, T) if isinstance(a, StartTimer))
    out = interp.feed(Timer(timer.name), timer.due)
    assert said(out) == ["I did not hear you.", "Press 1 for account, 2 for help, 3 for size."]
    assert isinstance(out[-1], Collect)
    assert interp.feed(Timer(timer.name), timer.due) == []  # already fired: stale
    assert interp.node == "top"


def test_nomatch_escalates_node_handlers_then_flow_handler(lab: ir.Config) -> None:
    interp = at_menu(lab)
    assert said(interp.feed(Digits("9"), T))[0] == "Not an option."
    assert said(interp.feed(Text("pizza"), T))[0] == "Still not an option."
    out = interp.feed(Digits("7"), T)  # third: the flow's `on nomatch 3 -> agent`
    assert [a for a in out if isinstance(a, Enqueue)] == [Enqueue("help_q")]
    assert interp.state is State.QUEUED


def test_noinput_and_nomatch_count_separately(lab: ir.Config) -> None:
    interp = at_menu(lab)
    interp.feed(Digits("9"), T)
    assert said(interp.feed(NoInput(), T))[0] == "I did not hear you."
    assert said(interp.feed(NoInput(), T))[0] == "I did not hear you."
    assert said(interp.feed(Digits("9"), T))[0] == "Still not an option."
    assert interp.node == "top"


def test_counters_reset_when_the_node_is_entered_again(lab: ir.Config) -> None:
    # verify: nomatch twice, then a valid PIN; a fresh session enters at `code` again.
    interp = Interpreter(lab, "verify", mode=Mode.TEXT)
    interp.start(T, return_to="agent-1")
    interp.feed(Text("1"), T)
    interp.feed(Text("12"), T)
    assert interp._counters == {"nomatch": 2}
    interp._exec(interp._frame.nodes["code"])
    assert interp._counters == {}


def test_retries_exhausted_in_demo_goes_to_the_operator() -> None:
    demo = tenant("demo")
    t = run_script(demo, "main", [NoInput(), NoInput(), NoInput()], T)
    assert t.said.count("Sorry, I did not hear you.") == 2
    assert t.of(Enqueue) == [Enqueue("general_q")]
    assert t.outcome == "answered"


def _reprompt_only(config: ir.Config, error_target: str | None) -> ir.Config:
    """The lab's main flow with every handler turned into a reprompt (the checker forbids
    this in source, so build it from the IR) and optionally a flow `on error` handler."""
    flow = config.flow("main")
    nodes = tuple(dataclasses.replace(n, handlers=tuple(
        dataclasses.replace(h, action="reprompt", target=None) for h in n.handlers))
        for n in flow.nodes)
    handlers: tuple[ir.Handler, ...] = ()
    if error_target:
        handlers = (ir.Handler(("error",), 1, "goto", error_target),)
    flows = tuple(f if f.id != "main" else dataclasses.replace(flow, nodes=nodes,
                                                              handlers=handlers)
                  for f in config.flows)
    return dataclasses.replace(config, flows=flows)


def test_retries_exhausted_takes_the_flow_error_path(lab: ir.Config) -> None:
    config = _reprompt_only(lab, "closed")
    interp = Interpreter(config, "main", mode=Mode.TEXT, max_retries=2)
    interp.start(T)
    interp.feed(NoInput(), T)
    interp.feed(Digits("9"), T)
    assert interp.node == "top"
    interp.feed(NoInput(), T)
    interp.feed(NoInput(), T)  # third no-input > max_retries
    assert interp.node == "closed"
    assert interp.state is State.RECORDING


def test_retries_exhausted_without_error_handler_ends(lab: ir.Config) -> None:
    interp = Interpreter(_reprompt_only(lab, None), "main", mode=Mode.TEXT, max_retries=1)
    interp.start(T)
    interp.feed(NoInput(), T)
    out = interp.feed(NoInput(), T)
    assert out[-1] == Ended("retries_exhausted", "top")


# ------------------------------------------------------------------ validation


def test_form_validation_fails_with_the_rule_message_then_succeeds(lab: ir.Config) -> None:
    interp = at_menu(lab)
    interp.feed(Text("1"), T)
    assert interp.node == "pin"
    out = interp.feed(Digits("12"), T)
    assert said(out) == ["A PIN has four digits.", "Key in your four digit PIN."]
    assert said(interp.feed(Digits("123456789"), T))[0] == "Key in your four digit PIN."
    out = interp.feed(Digits("4321"), T)
    assert interp.variables["pin"] == "4321"
    assert [a.url for a in out if isinstance(a, Lookup)] == [
        "https://api.example.com/accounts/4321"]


def test_keypad_only_question_rejects_speech(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.VOICE)
    interp.start(T)
    interp.feed(Digits("1"), T)
    interp.feed(Speech("one two three four"), T)
    assert interp._counters == {"nomatch": 1}


def test_low_confidence_speech_is_a_nomatch(lab: ir.Config) -> None:
    interp = at_menu(lab, Mode.VOICE)
    assert said(interp.feed(Speech("help", 0.2), T))[0] == "Not an option."
    interp.feed(Speech("I need help please", 0.9), T)
    assert interp.node == "agent"  # tips subflow returned, then the queue


def test_choice_field_validates_speech(lab: ir.Config) -> None:
    interp = at_menu(lab, Mode.VOICE)
    interp.feed(Digits("3"), T)
    assert said(interp.feed(Speech("medium"), T))[0] == "Which size?"
    interp.feed(Speech("large"), T)
    assert interp.variables["size"] == "large"
    assert interp.outcome == "completed"


# ------------------------------------------------------------------ presentation


def test_text_mode_menu_is_numbered_lines_and_matches_keys_or_phrases(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    out = interp.start(T)
    collect = next(a for a in out if isinstance(a, Collect))
    assert collect.mode is Mode.TEXT
    assert collect.text_menu() == "1. account\n2. help\n3. size"
    # text prompts are delivered at once: the no-input timer starts immediately
    assert any(isinstance(a, StartTimer) for a in out)
    interp.feed(Text("Account"), T)
    assert interp.node == "pin"
    interp.feed(Text("1234"), T)  # digits typed in a chat answer a keypad question
    assert interp.state is State.FETCHING

    other = Interpreter(lab, "main", mode=Mode.TEXT)
    other.start(T)
    other.feed(Text("2."), T)
    assert other.node == "agent"


def test_touch_mode_menu_buttons_and_choice_buttons(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TOUCH)
    out = interp.start(T)
    collect = next(a for a in out if isinstance(a, Collect))
    assert collect.mode is Mode.TOUCH
    assert [(c.key, c.label) for c in collect.choices] == [
        ("1", "account"), ("2", "help"), ("3", "size")]
    out = interp.feed(Touch("3"), T)
    size = next(a for a in out if isinstance(a, Collect))
    assert [(c.key, c.label) for c in size.choices] == [("1", "small"), ("2", "large")]
    assert said(interp.feed(Touch("9"), T))[0] == "Which size?"
    out = interp.feed(Touch("2"), T)
    assert interp.variables["size"] == "large"
    assert out[-1] == Ended("completed", "bye")


def test_voice_menu_collect_carries_dtmf_and_phrases(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main")
    collect = next(a for a in interp.start(T) if isinstance(a, Collect))
    assert collect.dtmf == (1, 1)
    assert collect.speech
    assert collect.phrases == ("account", "help", "size")


# ------------------------------------------------------------------ invalid triggers


def test_invalid_triggers_raise(lab: ir.Config) -> None:
    with pytest.raises(IvrError):
        Interpreter(lab, "nope")
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    with pytest.raises(InvalidEvent):
        interp.feed(Digits("1"), T)
    with pytest.raises(IvrError):
        Interpreter(lab, "main").start(T, node="nowhere")
    interp.start(T)
    with pytest.raises(InvalidEvent):
        interp.start(T)
    with pytest.raises(InvalidEvent):
        interp.feed(LookupResult("ok"), T)
    out = interp.feed(CallerHungUp(), T)
    assert out == [Ended("abandoned", "top")]
    with pytest.raises(InvalidEvent):
        interp.feed(NoInput(), T)


def test_keys_pressed_while_queued_are_ignored(lab: ir.Config) -> None:
    interp = at_menu(lab)
    interp.feed(Text("help"), T)
    assert interp.state is State.QUEUED
    assert interp.feed(Digits("5"), T) == []
    assert interp.state is State.QUEUED
