"""Flow tests: scripted callers run offline against the compiled IR on a virtual clock.

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

Inputs: ``press`` (DTMF), ``speak`` (speech or text), ``silence`` (no input: the clock moves
by the step's timeout). Set-up: ``at``, ``caller``, ``set``, ``mock``, ``agents busy|none``,
``outcome <step> <exit>``. Assertions: ``expect step|prompt|say|queue|transfer|voicemail|
hangup|ticket|send|<condition>``; expectations match the event log in order.

This module is a minimal, faithful step-through of the IR (VoiceXML FIA counters, fall-through
already resolved by the compiler) that issue 4's IVR interpreter can replace. It reports which
flow nodes no test exercised.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.dsl.diagnostics import Diagnostic, Span
from kefu.dsl.syntax import Assign, Literal, Member, Name, Seq, Stmt, parse

MAX_STEPS = 10_000
DEFAULT_TIMEOUT = 5
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class _Fail(Exception):
    def __init__(self, message: str, stmt: Stmt | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.stmt = stmt
        self.hint = hint


@dataclass
class Event:
    kind: str  # step, say, queue, transfer, voicemail, hangup, ticket, send, return, error
    value: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.value}".strip()


@dataclass
class _Frame:
    flow: ir.Flow
    node: str
    nodes: dict[str, ir.Node]


@dataclass
class Session:
    """One simulated contact. ``feed`` gives it an input; ``events`` is what happened."""

    config: ir.Config
    flow: ir.Flow
    clock: dt.datetime
    locale: str
    vars: dict[str, Any] = field(default_factory=dict)
    mocks: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    agents: str = "ready"
    forced: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    visited: set[tuple[str, str]] = field(default_factory=set)
    waiting: ir.Node | None = None
    ended: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    stack: list[_Frame] = field(default_factory=list)
    tickets: int = 0
    strict_mocks: bool = True

    def start(self) -> None:
        self.stack = [_Frame(self.flow, self.flow.start, _index(self.flow))]
        self._run()

    # ----------------------------------------------------------------- helpers
    @property
    def frame(self) -> _Frame:
        return self.stack[-1]

    def _text(self, t: ir.Text | None) -> str:
        if t is None:
            return ""
        locale = self.vars.get("locale") or self.locale  # `set x locale = "en_US"` switches
        raw = t.texts.get(locale) or next(iter(t.texts.values()), "")
        return _PLACEHOLDER.sub(lambda mt: _fmt(self._lookup(mt.group(1).strip())), raw)

    def _say(self, t: ir.Text | None) -> None:
        if t is None:
            return
        text = self._text(t)
        self.events.append(Event("say", text, t.prompt or ""))
        self.clock += dt.timedelta(seconds=max(1, len(text) // 5))

    def _lookup(self, path: str) -> Any:
        if path == "now":
            return self.clock
        if path == "today":
            return self.clock.date().isoformat()
        value: Any = self.vars
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return None
        return value

    def _assign(self, path: str, value: Any) -> None:
        parts = path.split(".")
        target = self.vars
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value

    def _goto(self, target: str | None) -> None:
        if target is None:
            self._end("hangup", "")
            return
        self.frame.node = target

    def _end(self, kind: str, value: str) -> None:
        self.events.append(Event(kind, value))
        self.ended = True

    # ----------------------------------------------------------------- running
    def _run(self) -> None:
        for _ in range(MAX_STEPS):
            if self.ended or self.waiting is not None:
                return
            frame = self.frame
            node = frame.nodes[frame.node]
            self.visited.add((frame.flow.id, node.id))
            self.events.append(Event("step", node.id, frame.flow.id))
            self._exec(node)
        raise _Fail(f"the flow ran {MAX_STEPS} steps without waiting for the caller")

    def _exec(self, node: ir.Node) -> None:  # noqa: PLR0912, PLR0915 - one branch per node kind
        kind = node.kind
        if kind in ("say", "play"):
            if node.audio:
                self.events.append(Event("say", node.audio, "audio"))
            self._say(node.prompt)
            self._goto(node.next)
        elif kind in ("ask", "menu", "callback"):
            self.counters = {}
            self._say(node.prompt)
            self.waiting = node
        elif kind == "set":
            self._assign(node.var or node.id, evaluate(node.value, self))
            self._goto(node.next)
        elif kind == "branch":
            for b in node.branches:
                if _truthy(evaluate(b.when, self)):
                    self._goto(b.target)
                    return
            self._goto(node.otherwise)
        elif kind == "fetch":
            mock = self.mocks.get(node.ref or "")
            if mock is None and not self.strict_mocks:
                mock = ("error", {})
            if mock is None:
                raise _Fail(f"step `{node.id}` calls http `{node.ref}` but the test has no "
                            f"`mock {node.ref}`", hint="tests run offline: add `mock "
                            f"{node.ref} {{ field value }}` or `mock {node.ref} error`")
            outcome, values = mock
            if outcome == "ok":
                if node.into:
                    self._assign(node.into, dict(values))
                self._goto(node.next)
            else:
                self._outcome(node, outcome)
        elif kind == "enqueue":
            self._say(node.prompt)
            self.events.append(Event("queue", node.ref or ""))
            forced = self.forced.get(node.id)
            if forced is None and self.agents == "ready":
                self._end("answered", node.ref or "")
                return
            outcome = forced or ("no_agents" if self.agents == "none" else "timeout")
            queue = next((q for q in self.config.queues if q.id == node.ref), None)
            if queue is not None and queue.max_wait and outcome == "timeout":
                self.clock += dt.timedelta(seconds=queue.max_wait)
            if outcome == "no_agents" and "no_agents" not in node.exits:
                outcome = "timeout"
            self._outcome(node, outcome)
        elif kind == "transfer":
            self.events.append(Event("transfer", node.number or ""))
            forced = self.forced.get(node.id)
            if forced is None:
                self._end("connected", node.number or "")
            else:
                self._outcome(node, forced)
        elif kind == "voicemail":
            self._say(node.prompt)
            self._end("voicemail", node.id)
        elif kind == "hangup":
            self._say(node.prompt)
            self._end("hangup", node.id)
        elif kind == "ticket":
            self.tickets += 1
            ticket_id = f"T{self.tickets:04d}"
            fields = {name: evaluate(value, self) for name, value in node.sets}
            self._assign(node.id, {"id": ticket_id, **fields})
            self.events.append(Event("ticket", node.ref or "", ticket_id))
            self._goto(node.next)
        elif kind == "send":
            self.events.append(Event("send", node.prompt.prompt if node.prompt and
                                     node.prompt.prompt else self._text(node.prompt),
                                     node.channel or ""))
            self._goto(node.next)
        elif kind == "call":
            sub = self.config.flow(node.ref or "")
            self.stack.append(_Frame(sub, sub.start, _index(sub)))
        elif kind == "return":
            self.events.append(Event("return", self.frame.flow.id))
            self.stack.pop()
            if not self.stack:
                self.ended = True
                return
            caller = self.frame.nodes[self.frame.node]
            self._goto(caller.next)
        else:  # pragma: no cover - the compiler only emits known kinds
            raise _Fail(f"unknown step kind {kind}")

    def _outcome(self, node: ir.Node, outcome: str) -> None:
        target = node.exits.get(outcome)
        if target is None:
            for h in self.frame.flow.handlers:
                if "error" in h.events and h.action == "goto":
                    target = h.target
        if target is None:
            raise _Fail(f"step `{node.id}` ended with `{outcome}` and nothing handles it")
        self.events.append(Event("outcome", outcome, node.id))
        self._goto(target)

    # ----------------------------------------------------------------- input
    def feed(self, kind: str, value: str = "") -> None:
        """Give the waiting step an input: ``dtmf``, ``speech`` or ``noinput``."""
        node = self.waiting
        if node is None:
            raise _Fail("the flow is not waiting for input here"
                        + (f" (it already ended: {self.events[-1]})" if self.ended else ""))
        self.waiting = None
        if kind == "noinput":
            self.clock += dt.timedelta(seconds=node.timeout or DEFAULT_TIMEOUT)
            self._event(node, "noinput")
        elif node.kind == "menu":
            target = _match_option(node, kind, value)
            if target is None:
                self._event(node, "nomatch")
            else:
                self._goto(target)
        elif node.kind == "callback":
            accepted = value.strip() in ("1", "yes", "是", "好")
            outcome = "accepted" if accepted else "declined"
            if accepted:
                self.events.append(Event("callback", node.ref or ""))
            self._outcome(node, outcome)
        else:
            problem = self._validate(node, kind, value)
            if problem:
                self._event(node, "nomatch")
            else:
                self._assign(node.id, value)
                self._goto(node.next)
        self._run()

    def _validate(self, node: ir.Node, kind: str, value: str) -> str | None:
        if kind == "dtmf":
            if not node.dtmf:
                return "no keypad input here"
            lo, hi = node.dtmf
            if not (lo <= len(value) <= hi and all(c in "0123456789*#" for c in value)):
                return "wrong number of digits"
        elif not (node.speech or node.text_input):
            return "speech not accepted"
        if node.validate:
            form = next((f for f in self.config.forms if f.id == node.validate[0]), None)
            fld = next((f for f in form.fields if f.id == node.validate[1]), None) if form else None
            if fld is not None:
                return field_problem(fld, value)
        return None

    def _event(self, node: ir.Node, event: str) -> None:
        count = self.counters.get(event, 0) + 1
        self.counters[event] = count
        handlers: dict[int, ir.Handler] = {h.count: h for h in self.frame.flow.handlers
                                           if event in h.events}
        handlers.update({h.count: h for h in node.handlers if event in h.events})
        eligible = [c for c in handlers if c <= count]
        self.events.append(Event(event, str(count), node.id))
        if not eligible:
            self._say(node.prompt)
            self.waiting = node
            return
        handler = handlers[max(eligible)]
        if handler.action == "reprompt":
            self._say(handler.text)
            self._say(node.prompt)
            self.waiting = node
        else:
            self._goto(handler.target)


def field_problem(fld: ir.Field, value: str) -> str | None:
    """Why ``value`` does not satisfy a form field's rules, or None."""
    for rule in fld.rules:
        if rule.kind == "pattern" and not re.search(rule.value, value):
            return "pattern"
        if rule.kind == "length" and not rule.value[0] <= len(value) <= rule.value[1]:
            return "length"
        if rule.kind == "range":
            try:
                number = float(value)
            except ValueError:
                return "range"
            if not rule.value[0] <= number <= rule.value[1]:
                return "range"
    if fld.choices and value not in fld.choices:
        return "choices"
    return None


def _match_option(node: ir.Node, kind: str, value: str) -> str | None:
    norm = value.strip().lower()
    for opt in node.options:
        if kind == "dtmf" and norm in opt.keys:
            return opt.target
        if kind == "speech" and any(p.lower() == norm for p in opt.phrases):
            return opt.target
    if kind == "speech":  # a phrase inside a longer utterance
        for opt in node.options:
            if any(p.lower() in norm for p in opt.phrases):
                return opt.target
    return None


def _index(flow: ir.Flow) -> dict[str, ir.Node]:
    return {n.id: n for n in flow.nodes}


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _truthy(v: Any) -> bool:
    return bool(v)


def calendar_open(cal: ir.Calendar, when: dt.datetime) -> bool:
    """Is the calendar open at local time ``when``?"""
    if cal.always:
        return True
    day = when.date().isoformat()
    minute = when.hour * 60 + when.minute
    for rule in cal.workdays:
        if rule.first <= day <= rule.last:
            return any(lo <= minute < hi for lo, hi in rule.ranges)
    if any(rule.first <= day <= rule.last for rule in cal.closed):
        return False
    return any(lo <= minute < hi for lo, hi in cal.weekly[when.weekday()])


def evaluate(e: Any, s: Session) -> Any:  # noqa: PLR0911, PLR0912 - one case per operator
    """Evaluate an IR S-expression in a session."""
    if e is None:
        return None
    op = e[0]
    if op == "var":
        return s._lookup(e[1])
    if op in ("str", "num", "bool", "date", "pct"):
        return e[1]
    if op == "dur":
        return e[1]
    if op == "time":
        return e[1]
    if op == "list":
        return [evaluate(x, s) for x in e[1:]]
    if op == "not":
        return not _truthy(evaluate(e[1], s))
    if op == "call":
        func = e[1]
        if func in ("open", "holiday"):
            cal = next((c for c in s.config.calendars if c.id == e[2][1]), None)
            if cal is None:
                return False
            if func == "open":
                return calendar_open(cal, s.clock)
            day = s.clock.date().isoformat()
            return any(r.first <= day <= r.last for r in cal.closed)
        args = [evaluate(a, s) for a in e[2:]]
        if func == "len":
            return len(args[0] or "")
        if func == "contains":
            return args[1] is not None and str(args[1]) in str(args[0] or "")
        if func == "matches":
            return re.search(str(args[1]), str(args[0] or "")) is not None
        if func == "starts_with":
            return str(args[0] or "").startswith(str(args[1]))
        if func == "lower":
            return str(args[0] or "").lower()
        return None
    if op == "or":
        return _truthy(evaluate(e[1], s)) or _truthy(evaluate(e[2], s))
    if op == "and":
        return _truthy(evaluate(e[1], s)) and _truthy(evaluate(e[2], s))
    left, right = evaluate(e[1], s), evaluate(e[2], s)
    if op == "+":
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left + right
        return _fmt(left) + _fmt(right)
    if op == "in":
        return left in (right or [])
    if op == "==":
        return _norm(left) == _norm(right)
    if op == "!=":
        return _norm(left) != _norm(right)
    try:
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
    except TypeError:
        return False
    if op == "..":
        return (left, right)
    return None


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v


# ---------------------------------------------------------------------------- test runner


@dataclass
class TestOutcome:
    name: str
    file: str
    passed: bool
    failures: list[Diagnostic]
    events: list[Event]


@dataclass
class TestReport:
    """All tests of a tenant: outcomes, diagnostics for broken test files, and coverage."""

    outcomes: list[TestOutcome]
    diagnostics: list[Diagnostic]
    unexercised: dict[str, list[str]]

    @property
    def ok(self) -> bool:
        return not self.diagnostics and all(o.passed for o in self.outcomes)


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


def run_case(config: ir.Config, flow_id: str, body: list[Stmt],  # noqa: PLR0912, PLR0915
             locale: str | None = None) -> tuple[list[str | tuple[str, Stmt, str | None]],
                                                 Session]:
    """Run one test body. Returns ``(failures, session)``; a failure is a message or
    ``(message, statement, hint)``."""
    from kefu.dsl.compiler import expr_ir

    flow = config.flow(flow_id)
    session = Session(config, flow, dt.datetime(2025, 3, 3, 10, 0),  # noqa: DTZ001 - local
                      locale or (config.tenant.locales[0] if config.tenant.locales else ""))
    session.vars["caller"] = {"number": "10000000000", "vip": False}
    cursor = 0
    started = False
    failures: list[str | tuple[str, Stmt, str | None]] = []

    def ensure_started() -> None:
        nonlocal started
        if not started:
            started = True
            session.start()

    for stmt in body:
        kw = stmt.keyword
        args = list(stmt.args)
        try:
            if kw == "at":
                if started:
                    raise _Fail("`at` sets the clock before the call starts", stmt)
                date = args[0].raw if args and isinstance(args[0], Literal) else "2025-03-03"
                time = args[1].raw if len(args) > 1 and isinstance(args[1], Literal) else "10:00"
                hh, mm = time.split(":")
                session.clock = dt.datetime.fromisoformat(date).replace(hour=int(hh),
                                                                         minute=int(mm))
            elif kw == "caller":
                session.vars["caller"]["number"] = literal_value(args[0]) if args else ""
            elif kw == "locale":
                session.locale = path_of(args[0]) if args else session.locale
            elif kw == "set":
                if args and isinstance(args[0], Assign):
                    session._assign(path_of(args[0].target),
                                    evaluate(expr_ir(args[0].value), session))
            elif kw == "mock":
                name = path_of(args[0]) if args else ""
                outcome = path_of(args[1]) if len(args) > 1 else "ok"
                values = {c.keyword: literal_value(c.args[0]) if c.args else None
                          for c in stmt.block or ()}
                session.mocks[name] = (outcome, values)
            elif kw == "agents":
                session.agents = path_of(args[0]) if args else "ready"
            elif kw == "outcome":
                session.forced[path_of(args[0])] = path_of(args[1])
            elif kw in ("press", "speak", "silence"):
                ensure_started()
                if kw == "silence":
                    session.feed("noinput")
                else:
                    value = literal_value(args[0]) if args else ""
                    session.feed("dtmf" if kw == "press" else "speech", _fmt(value))
            elif kw == "expect":
                ensure_started()
                cursor = _expect(session, stmt, cursor)
            else:
                raise _Fail(f"`{kw}` is not a test statement", stmt,
                            "use at, caller, set, mock, agents, outcome, press, speak, "
                            "silence or expect")
        except _Fail as fail:
            failures.append((fail.message, fail.stmt or stmt, fail.hint))
            break
    else:
        ensure_started()
    return failures, session


def _expect(session: Session, stmt: Stmt, cursor: int) -> int:
    args = list(stmt.args)
    if not args:
        raise _Fail("`expect` needs what to expect", stmt)
    what = args[0]
    word = what.value if isinstance(what, Name) else ""
    events = session.events
    kinds = {"step": ("step",), "prompt": ("say",), "say": ("say",), "queue": ("queue",),
             "transfer": ("transfer",), "voicemail": ("voicemail",), "hangup": ("hangup",),
             "ticket": ("ticket",), "send": ("send",), "callback": ("callback",),
             "answered": ("answered",)}
    if word in kinds and (len(args) <= 2):
        wanted = literal_value(args[1]) if len(args) > 1 else None
        wanted_s = _fmt(wanted) if wanted is not None else None
        for i in range(cursor, len(events)):
            ev = events[i]
            if ev.kind not in kinds[word]:
                continue
            if wanted_s is None:
                return i + 1
            if (word == "prompt" and ev.detail == wanted_s) or (
                    word == "say" and wanted_s in ev.value) or (
                    word not in ("prompt", "say") and ev.value == wanted_s):
                return i + 1
        seen = [str(e) for e in events[cursor:] if e.kind != "step"][-4:]
        raise _Fail(f"expected {word}{' ' + wanted_s if wanted_s else ''}, but it did not "
                    "happen", stmt, "what happened instead: " + ("; ".join(seen) or "nothing"))
    from kefu.dsl.compiler import expr_ir

    cond = args[0] if len(args) == 1 else Seq(tuple(args))
    if not _truthy(evaluate(expr_ir(cond), session)):
        raise _Fail("this expectation does not hold", stmt)
    return cursor


def run_tests(result: Any, test_sources: dict[str, str]) -> TestReport:
    """Run every ``test`` block of ``test_sources`` against a compiled tenant.

    Args:
        result: a successful :class:`kefu.dsl.compiler.Result` (``result.ir`` not None).
        test_sources: ``{file name: text}`` of test files.

    Returns:
        A :class:`TestReport` with one outcome per test and the nodes no test reached.
    """
    from kefu.dsl.binder import Binder

    config: ir.Config = result.ir
    diags: list[Diagnostic] = []
    outcomes: list[TestOutcome] = []
    visited: set[tuple[str, str]] = set()
    for file, text in sorted(test_sources.items()):
        pf = parse(text, file)
        diags.extend(pf.diagnostics)
        binder = Binder()
        for stmt in pf.stmts:
            if stmt.keyword != "test":
                diags.append(Diagnostic("T010", "test files hold only `test \"…\" { … }` "
                                                "blocks", stmt.keyword_span))
        binder.bind_file(tuple(s for s in pf.stmts if s.keyword == "test"))
        diags.extend(binder.diags)
        flows = {f.id for f in config.flows}
        for case in binder.config.tests:
            if case.flow is None:
                continue
            if case.flow.value not in flows:
                diags.append(Diagnostic("T011", f"there is no flow `{case.flow.value}`",
                                        case.flow.span))
                continue
            fails, session = run_case(config, case.flow.value, case.body)
            visited |= session.visited
            failures = []
            for f in fails:
                message, fstmt, hint = f if isinstance(f, tuple) else (f, None, None)
                span = fstmt.span if fstmt is not None else case.span
                failures.append(Diagnostic("T001", f"test \"{case.name}\": {message}", span,
                                           hint=hint))
            outcomes.append(TestOutcome(case.name, file, not failures, failures,
                                        session.events))
    unexercised = {f.id: [n.id for n in f.nodes if (f.id, n.id) not in visited]
                   for f in config.flows}
    return TestReport(outcomes, diags, {k: v for k, v in unexercised.items() if v})


def span_of(stmt: Stmt) -> Span:
    return stmt.span
