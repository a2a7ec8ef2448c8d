"""The virtual-clock host (``Simulation``, ``run_script``) and what the interpreter offers it:
live timers, step tracing, menu answers."""

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
    Host,
    Interpreter,
    LookupResult,
    Mode,
    Simulation,
    Speech,
    Step,
    Text,
    run_script,
)

from .conftest import MONDAY_10, tenant

T = MONDAY_10
SECOND = dt.timedelta(seconds=1)


def test_trace_emits_a_step_for_every_node_entered(lab: ir.Config) -> None:
    traced = Interpreter(lab, "main", mode=Mode.TEXT, trace=True).start(T)
    assert [x for x in traced if isinstance(x, Step)] == [Step("main", "hours"),
                                                          Step("main", "hello"),
                                                          Step("main", "top")]
    assert traced.index(Step("main", "top")) < next(
        i for i, x in enumerate(traced) if isinstance(x, Collect))
    plain = Interpreter(lab, "main", mode=Mode.TEXT).start(T)
    assert not any(isinstance(x, Step) for x in plain)
    t = run_script(lab, "main", [Digits("2")], T, mode=Mode.TEXT, trace=True)
    assert Step("help_tips", "tip") in t.actions


def test_live_timers_and_their_dues(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", mode=Mode.TEXT)
    interp.start(T)
    (name,) = interp.timers
    assert name.startswith("noinput:")
    assert interp.timers[name] == T + 5 * SECOND
    interp.feed(Text("9"), T + SECOND)  # a no-match: reprompt, a new no-input timer
    (again,) = interp.timers
    assert again != name
    assert interp.timers[again] == T + 6 * SECOND
    restored = Interpreter.restore(lab, interp.snapshot())
    assert restored.timers == interp.timers
    interp.feed(CallerHungUp(), T + 2 * SECOND)
    assert interp.timers == {}


def test_snapshot_keeps_tracing(lab: ir.Config) -> None:
    interp = Interpreter(lab, "main", trace=True)
    interp.start(T)
    restored = Interpreter.restore(lab, interp.snapshot())
    assert restored.trace
    old = interp.snapshot()
    del old["trace"], old["due"]  # a snapshot from before these existed
    assert not Interpreter.restore(lab, old).trace


def test_a_menu_answer_is_the_option_key() -> None:
    demo = tenant("demo")
    assert run_script(demo, "main", [Digits("1")], T).variables["main_menu"] == "1"
    spoken = run_script(demo, "main", [Speech("I smell a gas leak")], T)
    assert spoken.variables["main_menu"] == "2"


def test_silence_runs_the_clock_to_the_noinput_timeout() -> None:
    sim = Simulation(tenant("demo"), "main", T)
    sim.start()
    assert sim.collecting is not None
    assert sim.collecting.node == "main_menu"
    sim.silence()
    assert sim.now == T + 5 * SECOND
    assert sim.collecting in sim.actions[-3:]  # reprompted; the timer restarts after it
    sim.input(Digits("0"), after=2)
    assert sim.now == T + 7 * SECOND
    assert sim.outcome == "answered"
    assert [when for when, x in sim.log if isinstance(x, Ended)] == [T + 7 * SECOND]


def test_a_busy_queue_times_out_after_its_max_wait() -> None:
    sim = Simulation(tenant("demo"), "main", T, host=Host(agents="busy"))
    sim.start()
    sim.input(Digits("0"))  # general_q, max_wait 3m, then voicemail
    assert sim.outcome == "voicemail"
    assert sim.now == T + dt.timedelta(minutes=3)


def test_a_lookup_timeout_takes_the_lookup_timeout_per_attempt() -> None:
    host = Host(lookups={"account_lookup": LookupResult("timeout")})
    sim = Simulation(tenant("demo"), "main", T, host=host)
    sim.start()
    sim.input(Digits("1"))
    sim.input(Digits("12345678"))
    assert sim.now == T + 4 * SECOND  # timeout 2s, retries 1
    assert sim.outcome == "answered"  # `on error, timeout -> operator`


def test_the_tenant_time_limit_fires_before_a_later_timer(lab: ir.Config) -> None:
    limited = dataclasses.replace(lab, tenant=dataclasses.replace(lab.tenant,
                                                                  max_ivr_seconds=12))
    sim = Simulation(limited, "main", T, mode=Mode.TEXT)
    sim.start()
    sim.silence()
    sim.silence()
    assert sim.now == T + 10 * SECOND
    sim.silence()  # the third no-input would be at 15s; the limit is at 12s
    assert sim.now == T + 12 * SECOND
    assert sim.outcome == "timeout"


def test_forced_outcomes_and_bad_ones() -> None:
    demo = tenant("demo")
    host = Host(outcomes={"operator": "no_agents"})
    assert run_script(demo, "main", [Digits("0")], T, host=host).outcome == "voicemail"
    host = Host(outcomes={"operator": "failed"})
    with pytest.raises(ValueError, match="its outcome is one of answered, timeout, no_agents"):
        run_script(demo, "main", [Digits("0")], T, host=host)
