"""Every flow of every example tenant runs on the interpreter: driven to an end by silence in
each presentation mode, and driven by the tenant's own flow-test scripts, where it must make
the same queue, transfer and end decisions as the reference step-through
(:mod:`kefu.dsl.flowtest`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kefu.dsl import ir
from kefu.dsl.binder import Binder
from kefu.dsl.flowtest import literal_value, path_of, run_case
from kefu.dsl.loader import read_tests
from kefu.dsl.syntax import Literal, Stmt, parse
from kefu.runtime.ivr import (
    Digits,
    Enqueue,
    Event,
    Host,
    LookupResult,
    Mode,
    NoInput,
    Speech,
    Transfer,
    run_script,
)

from .conftest import MONDAY_10, TENANT_DIRS, tenant

FLOWS = [(d.name, f.id) for d in TENANT_DIRS for f in tenant(d.name).flows]
END_OF = {"answered": "answered", "connected": "transferred", "voicemail": "voicemail",
          "hangup": "completed"}


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.value)
@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=[f"{n}-{f}" for n, f in FLOWS])
def test_every_flow_ends_when_the_caller_stays_silent(name: str, flow: str, mode: Mode) -> None:
    for agents in ("ready", "busy"):
        t = run_script(tenant(name), flow, [], MONDAY_10, mode=mode, until_end=True,
                       host=Host(agents=agents))
        assert t.outcome in {"completed", "answered", "transferred", "voicemail", "error"}


def _text(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _script(body: list[Stmt]) -> tuple[list[Event], Host, dt.datetime, dict[str, Any]]:
    inputs: list[Event] = []
    lookups: dict[str, LookupResult] = {}
    host = Host(lookups=lookups)
    now = MONDAY_10
    caller: dict[str, Any] = {"number": "10000000000", "vip": False}
    for stmt in body:
        args = list(stmt.args)
        if stmt.keyword == "at":
            date = args[0].raw if isinstance(args[0], Literal) else "2025-03-03"
            hh, mm = (args[1].raw if len(args) > 1 and isinstance(args[1], Literal)
                      else "10:00").split(":")
            now = dt.datetime.fromisoformat(date).replace(hour=int(hh), minute=int(mm))
        elif stmt.keyword == "caller":
            caller["number"] = literal_value(args[0])
        elif stmt.keyword == "mock":
            outcome = path_of(args[1]) if len(args) > 1 else "ok"
            record = {c.keyword: literal_value(c.args[0]) if c.args else None
                      for c in stmt.block or ()}
            lookups[path_of(args[0])] = LookupResult(outcome, record)
        elif stmt.keyword == "agents":
            host.agents = path_of(args[0])
        elif stmt.keyword == "outcome":
            host.transfer_fails = True
        elif stmt.keyword == "press":
            inputs.append(Digits(_text(literal_value(args[0]))))
        elif stmt.keyword == "speak":
            inputs.append(Speech(_text(literal_value(args[0]))))
        elif stmt.keyword == "silence":
            inputs.append(NoInput())
    return inputs, host, now, {"caller": caller}


def _cases() -> list[tuple[str, str, str, list[Stmt]]]:
    out: list[tuple[str, str, str, list[Stmt]]] = []
    for d in TENANT_DIRS:
        for file, text in sorted(read_tests(d).items()):
            binder = Binder()
            binder.bind_file(tuple(s for s in parse(text, file).stmts if s.keyword == "test"))
            out.extend((d.name, case.flow.value, case.name, case.body)
                       for case in binder.config.tests if case.flow is not None)
    return out


CASES = _cases()


def test_every_tenant_ships_flow_tests() -> None:
    assert {c[0] for c in CASES} == {d.name for d in TENANT_DIRS}


@pytest.mark.parametrize(("name", "flow", "case", "body"), CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_flow_test_scripts_make_the_reference_decisions(name: str, flow: str, case: str,
                                                        body: list[Stmt]) -> None:
    config: ir.Config = tenant(name)
    inputs, host, now, variables = _script(body)
    t = run_script(config, flow, inputs, now, host=host, variables=variables)
    failures, session = run_case(config, flow, body)
    assert not failures, failures
    ref_queues = [ev.value for ev in session.events if ev.kind == "queue"]
    ref_transfers = [ev.value for ev in session.events if ev.kind == "transfer"]
    ref_said = [ev.value for ev in session.events if ev.kind == "say" and ev.detail != "audio"]
    assert [q.queue for q in t.of(Enqueue)] == ref_queues
    assert [x.number for x in t.of(Transfer)] == ref_transfers
    assert t.said == ref_said
    ref_end = next((END_OF[ev.kind] for ev in session.events if ev.kind in END_OF), None)
    assert t.outcome == (ref_end if session.ended else None)
