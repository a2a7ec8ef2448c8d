"""Flow tests: scripted callers run offline on the IVR interpreter on a virtual clock.

A tenant ships test files in ``tests/*.kefu``::

    test "VIP caller hears the balance" {
      flow main
      at 2025-03-03 10:00          # a Monday morning: the office is open
      caller "+441632960111"
      mock account_lookup { name "Ann"; balance 12; vip false }
      expect prompt welcome
      press 1
      press "12345678"
      expect say "Your balance is 12"
      expect hangup
    }

Inputs: ``press`` (DTMF), ``speak`` (speech), ``silence`` (no input: the clock runs to the
step's no-input timeout). Set-up: ``at``, ``caller``, ``locale``, ``set``, ``mock``,
``agents ready|busy|none``, ``outcome <step> <outcome>``. Assertions: ``expect step|prompt|
say|queue|transfer|voicemail|hangup|answered|callback|ticket|send|<condition>``; expectations
match what happened, in order.

Every test runs the same :class:`~kefu.runtime.ivr.interpreter.Interpreter` that serves
calls, inside a :class:`~kefu.runtime.ivr.driver.Simulation` whose host answers from the
test's mocks. :func:`run_tests` also reports which flow steps no test reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.dsl.binder import Binder
from kefu.dsl.compiler import expr_ir
from kefu.dsl.diagnostics import Diagnostic
from kefu.dsl.syntax import Assign, Literal, Member, Name, Seq, Stmt, parse
from kefu.runtime.expressions import evaluate, fmt, truthy
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.driver import QUEUE_OUTCOMES, TRANSFER_OUTCOMES, Host, Simulation
from kefu.runtime.ivr.expr import Scope
from kefu.runtime.ivr.interpreter import MAX_STEPS

#: The virtual clock of a test without ``at``: a Monday morning (tenant's local time).
DEFAULT_CLOCK = dt.datetime(2025, 3, 3, 10, 0)  # noqa: DTZ001 - local wall-clock time
DEFAULT_CALLER = "10000000000"
STATEMENTS = ("at", "caller", "locale", "set", "mock", "agents", "outcome", "press", "speak",
              "silence", "expect")
_EXPECT_KINDS = ("step", "prompt", "say", "queue", "transfer", "voicemail", "hangup",
                 "ticket", "send", "callback", "answered")


class FlowTestFailure(Exception):
    """A flow test failed at a statement.

    Args:
        message: what went wrong.
        stmt: the statement (its span names the file and line), None for the test itself.
        hint: what happened instead, or how to fix the test.
    """

    def __init__(self, message: str, stmt: Stmt | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.stmt = stmt
        self.hint = hint


@dataclass(frozen=True)
class Entry:
    """One thing that happened in a test, as ``expect`` sees it.

    ``kind`` is step, say, queue, transfer, voicemail, hangup, answered, connected, ticket,
    send, callback, return, or the outcome of an unusual end (abandoned, error,
    retries_exhausted, timeout); ``value`` what an ``expect`` compares with (step id, text,
    queue, number…) and ``detail`` extra information (the prompt id of a say, the flow of a
    step).
    """

    kind: str
    value: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.value}".strip()


def entries(actions: Sequence[a.Action], config: ir.Config) -> list[Entry]:
    """What a traced run did, in the terms of ``expect``.

    Args:
        actions: the actions of a simulation with ``trace=True``.
        config: the config it ran.

    Returns:
        One entry per meaningful action.
    """
    out: list[Entry] = []
    queue = ""
    step: a.Step | None = None
    for x in actions:
        if isinstance(x, a.Step):
            step = x
            out.append(Entry("step", x.node, x.flow))
        elif isinstance(x, a.Say):
            out.append(Entry("say", x.text, x.prompt or ""))
        elif isinstance(x, a.Play):
            out.append(Entry("say", x.audio, "audio"))
        elif isinstance(x, a.Enqueue):
            queue = x.queue
            out.append(Entry("queue", x.queue))
        elif isinstance(x, a.Transfer):
            out.append(Entry("transfer", x.number))
        elif isinstance(x, a.Record):
            out.append(Entry("voicemail", x.box))
        elif isinstance(x, a.CreateTicket):
            out.append(Entry("ticket", x.workflow))
        elif isinstance(x, a.SendMessage):
            out.append(Entry("send", x.template or x.text, x.channel))
        elif isinstance(x, a.ScheduleCallback):
            out.append(Entry("callback", x.queue, x.number))
        elif isinstance(x, a.ReturnToAgent):
            out.append(Entry("return", x.target))
        elif isinstance(x, a.Ended):
            out.extend(_end_entry(x, step, queue, config))
    return out


def _end_entry(x: a.Ended, step: a.Step | None, queue: str,
               config: ir.Config) -> list[Entry]:
    if x.outcome == "completed":
        node = None
        if step is not None and step.node == x.node:
            node = next((n for n in config.flow(step.flow).nodes if n.id == x.node), None)
        if node is not None and node.kind == "return":
            return [Entry("return", step.flow if step else "")]
        hung_up_at = node is not None and node.kind == "hangup"
        return [Entry("hangup", (x.node or "") if hung_up_at else "")]
    if x.outcome == "answered":
        return [Entry("answered", queue, x.detail)]
    if x.outcome == "transferred":
        return [Entry("connected", x.detail)]
    if x.outcome in ("voicemail", "returned"):  # Record / ReturnToAgent said it already
        return []
    return [Entry(x.outcome, x.detail)]


class _TestHost(Host):
    """A host that refuses lookups the test did not mock: tests run offline."""

    def lookup(self, action: a.Lookup, node: str | None) -> e.LookupResult:
        if action.http not in self.lookups:
            raise FlowTestFailure(
                f"step `{node}` calls http `{action.http}` but the test has no "
                f"`mock {action.http}`",
                hint=f"tests run offline: add `mock {action.http} {{ field value }}` or "
                     f"`mock {action.http} error`")
        return super().lookup(action, node)


def literal_value(x: Any) -> Any:
    """The Python value of a literal or bare name in a flow-test script."""
    if isinstance(x, Literal):
        if x.kind == "STRING":
            return x.text
        if x.kind == "NUMBER":
            return float(x.raw) if "." in x.raw else int(x.raw)
        return x.raw
    if isinstance(x, Name):
        return {"true": True, "false": False}.get(x.value, x.value)
    return None


def path_of(x: Any) -> str:
    """The dotted variable path a name or member expression in a flow-test script names."""
    if isinstance(x, Name):
        return x.value
    if isinstance(x, Member):
        return f"{path_of(x.obj)}.{x.name}"
    return ""


@dataclass
class CaseRun:
    """One test body run on the interpreter.

    Attributes:
        failures: ``(message, statement or None, hint)``; empty when the test passed.
        simulation: the simulation (None when the test failed before the call started).
        entries: what happened, in the terms of ``expect``.
        visited: ``(flow, step)`` pairs the run entered.
    """

    failures: list[tuple[str, Stmt | None, str | None]]
    simulation: Simulation | None
    entries: list[Entry] = field(default_factory=list)
    visited: set[tuple[str, str]] = field(default_factory=set)


class _Case:
    """The state of one running test: set-up until the call starts, then the simulation."""

    def __init__(self, config: ir.Config, flow_id: str, locale: str | None) -> None:
        self.config = config
        self.flow_id = flow_id
        self.clock = DEFAULT_CLOCK
        self.locale = locale
        self.variables: dict[str, Any] = {"caller": {"number": DEFAULT_CALLER, "vip": False}}
        self.mocks: dict[str, e.LookupResult] = {}
        self.forced: dict[str, str] = {}
        self.host = _TestHost(lookups=self.mocks, outcomes=self.forced)
        self.sim: Simulation | None = None
        self.cursor = 0  # expectations match what happened from here on

    # ------------------------------------------------------------------ helpers
    def started(self) -> Simulation:
        if self.sim is None:
            self.sim = Simulation(self.config, self.flow_id, self.clock, host=self.host,
                                  locale=self.locale, trace=True)
            self.sim.start(variables=self.variables)
            self.check_end()
        return self.sim

    def scope(self) -> Scope:
        if self.sim is None:
            return Scope(self.config, self.variables, self.clock)
        return Scope(self.config, self.sim.interpreter.variables, self.sim.now)

    def entries(self) -> list[Entry]:
        return entries(self.sim.actions, self.config) if self.sim is not None else []

    def check_end(self) -> None:
        """An ``error`` end is a failure of the flow, whatever the test expects next."""
        sim = self.sim
        if sim is None or sim.outcome != "error":
            return
        end = next((x for x in reversed(sim.actions) if isinstance(x, a.Ended)), None)
        detail = end.detail if end is not None else ""
        if detail == "loop":
            raise FlowTestFailure(f"the flow ran {MAX_STEPS} steps without waiting for the "
                                  "caller")
        if ": " in detail:
            node, outcome = detail.split(": ", 1)
            raise FlowTestFailure(f"step `{node}` ended with `{outcome}` and nothing handles it")
        raise FlowTestFailure(f"the flow ended with an error{': ' + detail if detail else ''}")

    # ------------------------------------------------------------------ statements
    def run(self, stmt: Stmt) -> None:  # noqa: PLR0912 - one branch per statement
        kw = stmt.keyword
        args = list(stmt.args)
        if kw == "at":
            self.set_clock(stmt, args)
        elif kw == "caller":
            number = fmt(literal_value(args[0])) if args else ""
            variables = self.sim.interpreter.variables if self.sim else self.variables
            variables.setdefault("caller", {})["number"] = number
        elif kw == "locale":
            locale = path_of(args[0]) if args else None
            if self.sim is not None and locale:
                self.sim.interpreter.locale = locale
            self.locale = locale or self.locale
        elif kw == "set":
            if args and isinstance(args[0], Assign):
                scope = self.scope()
                scope.assign(path_of(args[0].target), evaluate(expr_ir(args[0].value), scope))
        elif kw == "mock":
            name = path_of(args[0]) if args else ""
            outcome = path_of(args[1]) if len(args) > 1 else "ok"
            record = {c.keyword: literal_value(c.args[0]) if c.args else None
                      for c in stmt.block or ()}
            self.mocks[name] = e.LookupResult(outcome, record)
        elif kw == "agents":
            agents = path_of(args[0]) if args else ""
            if agents not in ("ready", "busy", "none"):
                raise FlowTestFailure(f"`agents {agents}`: agents are ready, busy or none", stmt)
            self.host.agents = agents
        elif kw == "outcome":
            self.force(stmt, args)
        elif kw in ("press", "speak", "silence"):
            self.caller_input(kw, args)
        elif kw == "expect":
            self.expect(stmt)
        else:
            raise FlowTestFailure(f"`{kw}` is not a test statement", stmt,
                                  "use " + ", ".join(STATEMENTS[:-1]) + " or expect")

    def set_clock(self, stmt: Stmt, args: list[Any]) -> None:
        if self.sim is not None:
            raise FlowTestFailure("`at` sets the clock before the call starts", stmt)
        date = args[0].raw if args and isinstance(args[0], Literal) else "2025-03-03"
        time = args[1].raw if len(args) > 1 and isinstance(args[1], Literal) else "10:00"
        hh, mm = time.split(":")
        self.clock = dt.datetime.fromisoformat(date).replace(hour=int(hh), minute=int(mm))

    def force(self, stmt: Stmt, args: list[Any]) -> None:
        step, outcome = (path_of(args[0]) if args else ""), (path_of(args[1])
                                                             if len(args) > 1 else "")
        node = next((n for f in self.config.flows for n in f.nodes if n.id == step), None)
        if node is None:
            raise FlowTestFailure(f"there is no step `{step}`", stmt)
        allowed = {"enqueue": QUEUE_OUTCOMES, "transfer": TRANSFER_OUTCOMES}.get(node.kind)
        if allowed is None:
            raise FlowTestFailure(f"`outcome` forces the result of an enqueue or transfer "
                                  f"step; `{step}` is a {node.kind} step", stmt,
                                  "mock a lookup with `mock <http> error` instead"
                                  if node.kind == "fetch" else None)
        if outcome not in allowed:
            raise FlowTestFailure(f"a {node.kind} step ends with {', '.join(allowed)}, "
                                  f"not `{outcome}`", stmt)
        self.forced[step] = outcome

    def caller_input(self, kw: str, args: list[Any]) -> None:
        sim = self.started()
        if sim.collecting is None:
            last = next((str(x) for x in reversed(self.entries()) if x.kind != "step"), "")
            raise FlowTestFailure("the flow is not waiting for input here"
                                  + (f" (it already ended: {last})" if sim.ended else ""))
        if kw == "silence":
            sim.silence()
        else:
            value = fmt(literal_value(args[0])) if args else ""
            sim.input(e.Digits(value) if kw == "press" else e.Speech(value))
        self.check_end()

    def expect(self, stmt: Stmt) -> None:
        """Check one ``expect`` against what happened since the last one matched."""
        self.started()
        cursor = self.cursor
        args = list(stmt.args)
        if not args:
            raise FlowTestFailure("`expect` needs what to expect", stmt)
        what = args[0]
        word = what.value if isinstance(what, Name) else ""
        happened = self.entries()
        if word in _EXPECT_KINDS and len(args) <= 2:
            kind = "say" if word == "prompt" else word
            wanted = fmt(literal_value(args[1])) if len(args) > 1 else None
            for i in range(cursor, len(happened)):
                ev = happened[i]
                if ev.kind != kind:
                    continue
                if wanted is None or (word == "prompt" and ev.detail == wanted) or (
                        word == "say" and wanted in ev.value) or (
                        word not in ("prompt", "say") and ev.value == wanted):
                    self.cursor = i + 1
                    return
            seen = [str(x) for x in happened[cursor:] if x.kind != "step"][-4:]
            raise FlowTestFailure(
                f"expected {word}{' ' + wanted if wanted else ''}, but it did not happen",
                stmt, "what happened instead: " + ("; ".join(seen) or "nothing"))
        cond = args[0] if len(args) == 1 else Seq(tuple(args))
        if not truthy(evaluate(expr_ir(cond), self.scope())):
            raise FlowTestFailure("this expectation does not hold", stmt)


def run_case(config: ir.Config, flow_id: str, body: Sequence[Stmt],
             locale: str | None = None) -> CaseRun:
    """Run one test body on the interpreter; stops at the first failure.

    Args:
        config: the compiled config.
        flow_id: the flow under test.
        body: the test's statements (without ``flow``).
        locale: the prompt locale; default the tenant's first.

    Returns:
        The :class:`CaseRun`.
    """
    case = _Case(config, flow_id, locale)
    failures: list[tuple[str, Stmt | None, str | None]] = []
    current: Stmt | None = None
    try:
        for current in body:
            case.run(current)
        current = None
        case.started()
    except FlowTestFailure as fail:
        failures.append((fail.message, fail.stmt or current, fail.hint))
    except ValueError as err:  # a forced outcome that does not fit, a bad clock
        failures.append((str(err), current, None))
    happened = case.entries()
    visited = {(x.detail, x.value) for x in happened if x.kind == "step"}
    return CaseRun(failures, case.sim, happened, visited)


# ---------------------------------------------------------------------------- test files


@dataclass
class TestOutcome:
    """One test's result: ``failures`` are T001 diagnostics, ``events`` what happened."""

    __test__ = False  # not a pytest test class

    name: str
    file: str
    passed: bool
    failures: list[Diagnostic]
    events: list[Entry]


@dataclass
class TestReport:
    """All tests of a tenant: outcomes, diagnostics for broken test files, and coverage."""

    __test__ = False  # not a pytest test class

    outcomes: list[TestOutcome]
    diagnostics: list[Diagnostic]
    unexercised: dict[str, list[str]]

    @property
    def ok(self) -> bool:
        return not self.diagnostics and all(o.passed for o in self.outcomes)


def run_tests(result: Any, test_sources: dict[str, str]) -> TestReport:
    """Run every ``test`` block of ``test_sources`` against a compiled tenant.

    Args:
        result: a successful :class:`kefu.dsl.compiler.Result` (``result.ir`` not None).
        test_sources: ``{file name: text}`` of test files.

    Returns:
        A :class:`TestReport` with one outcome per test and the steps no test reached.
    """
    config: ir.Config = result.ir
    diags: list[Diagnostic] = []
    outcomes: list[TestOutcome] = []
    visited: set[tuple[str, str]] = set()
    flows = {f.id for f in config.flows}
    for file, text in sorted(test_sources.items()):
        parsed = parse(text, file)
        diags.extend(parsed.diagnostics)
        for stmt in parsed.stmts:
            if stmt.keyword != "test":
                diags.append(Diagnostic("T010", "test files hold only `test \"…\" { … }` "
                                                "blocks", stmt.keyword_span))
        binder = Binder()
        binder.bind_file(tuple(s for s in parsed.stmts if s.keyword == "test"))
        diags.extend(binder.diags)
        for case in binder.config.tests:
            if case.flow is None:
                continue
            if case.flow.value not in flows:
                diags.append(Diagnostic("T011", f"there is no flow `{case.flow.value}`",
                                        case.flow.span))
                continue
            run = run_case(config, case.flow.value, case.body)
            visited |= run.visited
            failures = [Diagnostic("T001", f"test \"{case.name}\": {message}",
                                   stmt.span if stmt is not None else case.span, hint=hint)
                        for message, stmt, hint in run.failures]
            outcomes.append(TestOutcome(case.name, file, not failures, failures, run.entries))
    unexercised = {f.id: [n.id for n in f.nodes if (f.id, n.id) not in visited]
                   for f in config.flows}
    return TestReport(outcomes, diags, {k: v for k, v in unexercised.items() if v})
