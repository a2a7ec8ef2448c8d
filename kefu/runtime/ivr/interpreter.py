"""The IVR / flow interpreter: runs one compiled flow for one contact as a sans-I/O state
machine with VoiceXML-like input semantics.

``start(now)`` and ``feed(event, now)`` return actions (:mod:`kefu.runtime.ivr.actions`); the
host performs them and feeds back events (:mod:`kefu.runtime.ivr.events`). All time comes from
the ``now`` arguments, so tests run on a virtual clock. See ``docs/ivr.md``.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from kefu.dsl import ir
from kefu.runtime.expressions import evaluate, fill, fmt, truthy
from kefu.runtime.forms import find_field, validate_field
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.expr import Scope

log = logging.getLogger(__name__)
_TRAILING_PUNCT = re.compile(r"[.!?。!?]+$")

MAX_STEPS = 10_000
DEFAULT_TIMEOUT = 5
DEFAULT_MAX_RETRIES = 3
DEFAULT_MIN_CONFIDENCE = 0.4
VOICEMAIL_SECONDS = 120
YES_WORDS = frozenset({"1", "yes", "y", "ok", "okay", "sure", "是", "好", "好的", "可以", "需要",
                       "要", "对"})
NO_WORDS = frozenset({"2", "no", "n", "nope", "不", "不用", "不要", "否", "不需要", "算了"})


class State(enum.Enum):
    """Where the session is. Every transition is logged and kept in ``history``."""

    IDLE = "idle"
    RUNNING = "running"
    COLLECTING = "collecting"
    FETCHING = "fetching"
    TICKETING = "ticketing"
    QUEUED = "queued"
    TRANSFERRING = "transferring"
    RECORDING = "recording"
    ENDED = "ended"


class IvrError(Exception):
    """The interpreter cannot do what was asked (unknown flow or node)."""


class InvalidEvent(IvrError):
    """An event that makes no sense in the current state (e.g. a lookup result while queued,
    anything after the session ended)."""


_INPUT = (e.Digits, e.Speech, e.Text, e.Touch, e.NoInput)
_EXPECTS: dict[type, State] = {
    e.LookupResult: State.FETCHING, e.TicketCreated: State.TICKETING,
    e.Transferred: State.TRANSFERRING, e.TransferFailed: State.TRANSFERRING,
    e.AgentAnswered: State.QUEUED, e.QueueTimeout: State.QUEUED, e.NoAgents: State.QUEUED,
    e.RecordingDone: State.RECORDING,
}


@dataclass
class _Frame:
    flow: ir.Flow
    node: str
    nodes: dict[str, ir.Node]


@dataclass
class _Pending:
    node: ir.Node
    request_id: int
    attempt: int = 1


def _index(flow: ir.Flow) -> dict[str, ir.Node]:
    return {n.id: n for n in flow.nodes}


def host_allowed(url: str, allow_hosts: tuple[str, ...]) -> bool:
    """May a lookup reach ``url``? Only http(s) URLs whose host is allow-listed.

    Args:
        url: the URL with its placeholders filled.
        allow_hosts: the tenant's ``allow_hosts``; ``*.example.com`` allows subdomains.

    Returns:
        True when allowed.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    for allowed in allow_hosts:
        entry = allowed.lower()
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
        if host == entry:
            return True
    return False


class Interpreter:
    """One contact running through one flow of a compiled config.

    Args:
        config: the compiled tenant config.
        flow_id: the flow to run.
        mode: the channel's presentation mode (voice, text, touch).
        locale: the locale of prompts; default the tenant's first locale. A flow variable
            ``locale`` overrides it while the flow runs.
        barge_in: whether caller input may interrupt prompts (VoiceXML ``bargein``).
        max_retries: no-input/no-match occurrences after which, unless a ``goto`` handler
            takes over, retries are exhausted and the flow's ``error`` handler runs.
        min_confidence: speech results below it count as no-match.
        trace: also emit a :class:`~kefu.runtime.ivr.actions.Step` action for every node
            entered (for flow tests, ``kefu simulate`` and coverage).

    Raises:
        IvrError: the flow does not exist.
    """

    def __init__(self, config: ir.Config, flow_id: str, *, mode: a.Mode = a.Mode.VOICE,
                 locale: str | None = None, barge_in: bool = True,
                 max_retries: int = DEFAULT_MAX_RETRIES,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, trace: bool = False) -> None:
        try:
            self.flow = config.flow(flow_id)
        except KeyError:
            raise IvrError(f"there is no flow `{flow_id}`") from None
        self.config = config
        self.mode = mode
        self.locale = locale or (config.tenant.locales[0] if config.tenant.locales else "")
        self.barge_in = barge_in
        self.max_retries = max_retries
        self.min_confidence = min_confidence
        self.trace = trace
        self.state = State.IDLE
        self.history: list[tuple[dt.datetime, str, str]] = []
        self.outcome: str | None = None
        self.return_to: str | None = None
        self._now = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        self._scope = Scope(config, {}, self._now)
        self._stack: list[_Frame] = []
        self._out: list[a.Action] = []
        self._waiting: ir.Node | None = None
        self._counters: dict[str, int] = {}
        self._playing = 0
        self._playing_bargeable = True
        self._seq = 0
        self._timers: dict[str, str] = {}  # purpose -> live timer name
        self._due: dict[str, dt.datetime] = {}  # live timer name -> when it is due
        self._pending: _Pending | None = None

    # ------------------------------------------------------------------ public
    @property
    def variables(self) -> dict[str, Any]:
        """The session variables (answers, lookup records, tickets, ``caller``)."""
        return self._scope.vars

    @property
    def node(self) -> str | None:
        """The current node id, or None before start and after the end."""
        if not self._stack or self.state is State.ENDED:
            return None
        return self._stack[-1].node

    @property
    def timers(self) -> dict[str, dt.datetime]:
        """The live timers (name -> due): those a host still has to fire. A timer that was
        replaced or cancelled is not here (fed anyway, it would be ignored)."""
        return {name: self._due[name] for name in self._timers.values() if name in self._due}

    def start(self, now: dt.datetime, *, node: str | None = None,
              variables: dict[str, Any] | None = None,
              return_to: str | None = None) -> list[a.Action]:
        """Start the flow (at its start node, or at ``node`` when an agent transfers the
        contact into the middle of it).

        Args:
            now: the virtual clock.
            node: the node to enter at; default the flow's start.
            variables: initial variables (``caller.number``, ``caller.vip``, data the agent
                collected); merged over the defaults.
            return_to: who receives the contact back when the flow returns (an agent or
                interaction id); a ``return`` at the top of the flow then emits
                :class:`~kefu.runtime.ivr.actions.ReturnToAgent`.

        Returns:
            The actions to perform.

        Raises:
            InvalidEvent: the session was already started.
            IvrError: ``node`` is not a node of the flow.
        """
        if self.state is not State.IDLE:
            raise InvalidEvent("the session is already started")
        entry = node or self.flow.start
        nodes = _index(self.flow)
        if entry not in nodes:
            raise IvrError(f"flow `{self.flow.id}` has no node `{entry}`")
        self._tick(now)
        self._scope.vars.update({"caller": {"number": "", "vip": False}})
        for key, value in (variables or {}).items():
            if key == "caller" and isinstance(value, dict):
                self._scope.vars["caller"].update(value)
            else:
                self._scope.vars[key] = value
        self.return_to = return_to
        self._stack = [_Frame(self.flow, entry, nodes)]
        if self.config.tenant.max_ivr_seconds:
            self._timer("limit", self.config.tenant.max_ivr_seconds)
        self._transition(State.RUNNING, f"start {self.flow.id}.{entry}")
        self._run()
        return self._drain()

    def feed(self, event: e.Event, now: dt.datetime) -> list[a.Action]:
        """Give the session an event: caller input, a timer, or the result of an action.

        Caller input outside a collection (keys pressed during hold music) is ignored, as
        is input during a prompt that does not allow barge-in and a stale timer or lookup
        result.

        Args:
            event: the event.
            now: the virtual clock.

        Returns:
            The actions to perform.

        Raises:
            InvalidEvent: the session is not started or already ended, or the event is the
                result of an action the session is not waiting for.
        """
        if self.state in (State.IDLE, State.ENDED):
            raise InvalidEvent(f"{type(event).__name__} while the session is {self.state.value}")
        self._tick(now)
        if isinstance(event, e.PromptFinished):
            self._prompt_finished()
        elif isinstance(event, e.CallerHungUp):
            outcome = "voicemail" if self.state is State.RECORDING else "abandoned"
            self._end(outcome, hangup=False)
        elif isinstance(event, e.Timer):
            self._timer_fired(event.name)
        elif isinstance(event, _INPUT):
            self._caller_input(event)
        else:
            expected = _EXPECTS.get(type(event))
            if expected is not self.state:
                raise InvalidEvent(f"{type(event).__name__} while the session is "
                                   f"{self.state.value}")
            self._result(event)
        if self.state is State.RUNNING:
            self._run()
        return self._drain()

    def snapshot(self) -> dict[str, Any]:
        """The session as plain data, so a state backend can persist it and another process
        can resume it with :meth:`restore` (the history is not kept).

        Returns:
            A JSON-compatible dict as long as the session variables are.
        """
        pending = self._pending
        return {
            "flow": self.flow.id, "mode": self.mode.value, "locale": self.locale,
            "barge_in": self.barge_in, "max_retries": self.max_retries,
            "min_confidence": self.min_confidence, "state": self.state.value,
            "outcome": self.outcome, "return_to": self.return_to,
            "now": self._now.isoformat(), "vars": self._scope.vars,
            "stack": [[f.flow.id, f.node] for f in self._stack],
            "waiting": self._waiting.id if self._waiting is not None else None,
            "counters": dict(self._counters), "playing": self._playing,
            "playing_bargeable": self._playing_bargeable, "seq": self._seq,
            "timers": dict(self._timers), "trace": self.trace,
            "due": {name: due.isoformat() for name, due in self._due.items()},
            "pending": None if pending is None else [pending.node.id, pending.request_id,
                                                     pending.attempt],
        }

    @classmethod
    def restore(cls, config: ir.Config, data: dict[str, Any]) -> Interpreter:
        """Rebuild a session from :meth:`snapshot` data.

        Args:
            config: the config version the session started on.
            data: the snapshot.

        Returns:
            The interpreter, ready for :meth:`feed`.

        Raises:
            IvrError: the snapshot names a flow or node the config does not have.
        """
        session = cls(config, data["flow"], mode=a.Mode(data["mode"]), locale=data["locale"],
                   barge_in=data["barge_in"], max_retries=data["max_retries"],
                   min_confidence=data["min_confidence"], trace=data.get("trace", False))
        try:
            for flow_id, node in data["stack"]:
                flow = config.flow(flow_id)
                session._stack.append(_Frame(flow, node, _index(flow)))
            nodes = session._stack[-1].nodes if session._stack else {}
            session._waiting = nodes[data["waiting"]] if data["waiting"] else None
            if data["pending"]:
                node_id, request_id, attempt = data["pending"]
                session._pending = _Pending(nodes[node_id], request_id, attempt)
        except KeyError as err:
            raise IvrError(f"the snapshot does not fit this config: {err}") from None
        session.state = State(data["state"])
        session.outcome = data["outcome"]
        session.return_to = data["return_to"]
        session._tick(dt.datetime.fromisoformat(data["now"]))
        session._scope.vars.update(data["vars"])
        session._counters = dict(data["counters"])
        session._playing = data["playing"]
        session._playing_bargeable = data["playing_bargeable"]
        session._seq = data["seq"]
        session._timers = dict(data["timers"])
        session._due = {name: dt.datetime.fromisoformat(due)
                        for name, due in data.get("due", {}).items()}
        return session

    # ------------------------------------------------------------------ helpers
    def _tick(self, now: dt.datetime) -> None:
        self._now = now
        self._scope.now = now

    def _drain(self) -> list[a.Action]:
        out, self._out = self._out, []
        return out

    def _transition(self, state: State, why: str) -> None:
        log.debug("ivr %s: %s -> %s (%s)", self.flow.id, self.state.value, state.value, why)
        self.history.append((self._now, f"{self.state.value}->{state.value}", why))
        self.state = state

    def _note(self, what: str) -> None:
        log.debug("ivr %s: %s", self.flow.id, what)
        self.history.append((self._now, self.state.value, what))

    @property
    def _frame(self) -> _Frame:
        return self._stack[-1]

    def _timer(self, purpose: str, seconds: float) -> None:
        self._seq += 1
        name = f"{purpose}:{self._seq}"
        old = self._timers.get(purpose)
        if old is not None:
            self._due.pop(old, None)
        due = self._now + dt.timedelta(seconds=seconds)
        self._timers[purpose] = name
        self._due[name] = due
        self._out.append(a.StartTimer(name, due))

    def _cancel(self, purpose: str) -> None:
        name = self._timers.pop(purpose, None)
        if name is not None:
            self._due.pop(name, None)

    def _locale_text(self, text: ir.Text) -> tuple[str, str]:
        locale = str(self._scope.vars.get("locale") or self.locale)
        raw = text.texts.get(locale)
        used = locale
        if raw is None:
            lang = locale.split("_", maxsplit=1)[0]
            used = next((k for k in text.texts if k.split("_", maxsplit=1)[0] == lang),
                        next(iter(text.texts), locale))
            raw = text.texts.get(used, "")
        return fill(raw, self._scope), used

    def _say(self, text: ir.Text | None, barge_in: bool = True) -> None:
        if text is None:
            return
        spoken, locale = self._locale_text(text)
        bargeable = barge_in and self.barge_in
        self._out.append(a.Say(spoken, locale, bargeable, text.prompt))
        self._played(bargeable)

    def _played(self, bargeable: bool) -> None:
        if self.mode is a.Mode.VOICE:
            self._playing += 1
            self._playing_bargeable = self._playing_bargeable and bargeable

    def _goto(self, target: str | None) -> None:
        if target is None:
            self._end("completed")
            return
        if target not in self._frame.nodes:
            self._note(f"no node `{target}`")
            self._end("error")
            return
        self._frame.node = target
        if self.state is not State.RUNNING:
            self._transition(State.RUNNING, f"goto {target}")

    def _end(self, outcome: str, hangup: bool = True, detail: str = "") -> None:
        node = self._stack[-1].node if self._stack else None
        if hangup:
            self._out.append(a.Hangup())
        self._out.append(a.Ended(outcome, node, detail))
        self.outcome = outcome
        self._waiting = None
        self._pending = None
        self._timers.clear()
        self._due.clear()
        self._transition(State.ENDED, outcome)

    def _error_target(self) -> str | None:
        for h in self._frame.flow.handlers:
            if "error" in h.events and h.action == "goto" and h.target:
                return h.target
        return None

    def _outcome(self, node: ir.Node, outcome: str) -> None:
        target = node.exits.get(outcome) or self._error_target()
        self._note(f"{node.id}: {outcome}")
        if target is None:
            self._end("error", detail=f"{node.id}: {outcome}")
        else:
            self._goto(target)

    # ------------------------------------------------------------------ running
    def _run(self) -> None:
        for _ in range(MAX_STEPS):
            if self.state is not State.RUNNING:
                return
            node = self._frame.nodes[self._frame.node]
            if self.trace:
                self._out.append(a.Step(self._frame.flow.id, node.id))
            self._exec(node)
        self._note(f"{MAX_STEPS} steps without waiting for anything")
        self._end("error", detail="loop")

    def _exec(self, node: ir.Node) -> None:  # noqa: PLR0912 - one branch per node kind
        kind = node.kind
        if kind in ("say", "play"):
            if node.audio:
                self._out.append(a.Play(node.audio, self.barge_in))
                self._played(self.barge_in)
            self._say(node.prompt)
            self._goto(node.next)
        elif kind in ("ask", "menu", "callback"):
            self._counters = {}
            self._say(node.prompt)
            self._collect(node)
        elif kind == "set":
            self._scope.assign(node.var or node.id, evaluate(node.value, self._scope))
            self._goto(node.next)
        elif kind == "branch":
            target = next((b.target for b in node.branches
                           if truthy(evaluate(b.when, self._scope))), node.otherwise)
            self._goto(target)
        elif kind == "fetch":
            self._lookup(node, 1)
        elif kind == "call":
            self._call(node)
        elif kind == "return":
            self._return()
        elif kind == "enqueue":
            self._enqueue(node)
        elif kind == "transfer":
            self._say(node.prompt, barge_in=False)
            self._out.append(a.Transfer(fill(node.number or "", self._scope)))
            self._transition(State.TRANSFERRING, node.id)
        elif kind == "ticket":
            self._seq += 1
            self._pending = _Pending(node, self._seq)
            fields = {name: evaluate(value, self._scope) for name, value in node.sets}
            self._out.append(a.CreateTicket(self._seq, node.ref or "", fields))
            self._transition(State.TICKETING, node.id)
        elif kind == "send":
            text, _ = self._locale_text(node.prompt) if node.prompt else ("", "")
            to = fmt(evaluate(node.to, self._scope))
            self._out.append(a.SendMessage(node.channel or "", node.prompt.prompt
                                           if node.prompt else None, text, to))
            self._goto(node.next)
        elif kind == "voicemail":
            self._say(node.prompt, barge_in=False)
            self._out.append(a.Record(node.id, VOICEMAIL_SECONDS))
            self._transition(State.RECORDING, node.id)
        elif kind == "hangup":
            self._say(node.prompt, barge_in=False)
            self._end("completed")
        else:
            self._note(f"unknown node kind {kind}")
            self._end("error", detail=kind)

    def _call(self, node: ir.Node) -> None:
        try:
            sub = self.config.flow(node.ref or "")
        except KeyError:
            self._outcome(node, "error")
            return
        self._note(f"call {sub.id}")
        self._stack.append(_Frame(sub, sub.start, _index(sub)))

    def _return(self) -> None:
        done = self._stack.pop()
        self._note(f"return from {done.flow.id}")
        if self._stack:
            caller = self._frame.nodes[self._frame.node]
            self._goto(caller.next)
            return
        self._stack.append(done)  # keep a frame so Ended names the node
        if self.return_to is not None:
            self._out.append(a.ReturnToAgent(self.return_to, dict(self._scope.vars)))
            self._end("returned", hangup=False, detail=self.return_to)
        else:
            self._end("completed")

    def _enqueue(self, node: ir.Node) -> None:
        self._say(node.prompt, barge_in=False)
        queue = next((q for q in self.config.queues if q.id == node.ref), None)
        priority = team = None
        if queue is not None:
            priority = next((c.priority for c in queue.priorities
                             if truthy(evaluate(c.when, self._scope))), None)
            team = next((c.team for c in queue.dedicated
                         if truthy(evaluate(c.when, self._scope))), None)
        self._out.append(a.Enqueue(node.ref or "", priority, team))
        self._transition(State.QUEUED, node.id)
        self._cancel("limit")  # the IVR time limit does not count waiting for an agent
        if queue is not None and queue.max_wait:
            self._timer("queue", queue.max_wait)

    # ------------------------------------------------------------------ lookups
    def _lookup(self, node: ir.Node, attempt: int) -> None:
        http = next((h for h in self.config.https if h.id == node.ref), None)
        if http is None:
            self._outcome(node, "error")
            return
        url = fill(http.url, self._scope,
                   quote=lambda v: urllib.parse.quote(v, safe=""))
        if not host_allowed(url, self.config.tenant.allow_hosts):
            self._note(f"refused lookup {http.id}: host of {url} is not allow-listed")
            self._outcome(node, "error")
            return
        self._seq += 1
        self._pending = _Pending(node, self._seq, attempt)
        self._out.append(a.Lookup(self._seq, http.id, http.method.upper(), url, http.timeout_ms,
                                  http.headers))
        self._timer("lookup", http.timeout_ms / 1000)
        if self.state is not State.FETCHING:
            self._transition(State.FETCHING, node.id)

    def _lookup_done(self, status: str, record: dict[str, Any]) -> None:
        pending = self._pending
        assert pending is not None
        node = pending.node
        self._cancel("lookup")
        self._pending = None
        if status == "ok":
            if node.into:
                self._scope.assign(node.into, dict(record))
            self._goto(node.next)
            return
        http = next(h for h in self.config.https if h.id == node.ref)
        if pending.attempt <= http.retries:
            self._note(f"{node.id}: {status}, retry {pending.attempt}")
            self._lookup(node, pending.attempt + 1)
            return
        self._transition(State.RUNNING, f"{node.id}: {status}")
        self._outcome(node, status if status in ("error", "timeout") else "error")

    # ------------------------------------------------------------------ results
    def _result(self, event: e.Event) -> None:
        if isinstance(event, e.LookupResult):
            if self._pending is None or (event.request_id is not None
                                         and event.request_id != self._pending.request_id):
                self._note("stale lookup result ignored")
                return
            self._lookup_done(event.status, event.record)
            return
        if isinstance(event, e.TicketCreated):
            pending = self._pending
            assert pending is not None
            if event.request_id is not None and event.request_id != pending.request_id:
                return
            self._pending = None
            node = pending.node
            self._transition(State.RUNNING, f"ticket {event.ticket_id}")
            if event.ticket_id is None:
                self._outcome(node, "error")
                return
            fields = {name: evaluate(value, self._scope) for name, value in node.sets}
            self._scope.assign(node.id, {"id": event.ticket_id, **fields})
            self._goto(node.next)
            return
        node = self._frame.nodes[self._frame.node]
        if isinstance(event, e.Transferred):
            self._end("transferred", hangup=False, detail=node.number or "")
        elif isinstance(event, e.AgentAnswered):
            self._end("answered", hangup=False, detail=event.agent)
        elif isinstance(event, e.RecordingDone):
            self._end("voicemail", detail=event.uri)
        else:
            self._cancel("queue")
            outcome = {e.TransferFailed: "failed", e.QueueTimeout: "timeout",
                       e.NoAgents: "no_agents"}[type(event)]
            if outcome == "no_agents" and "no_agents" not in node.exits:
                outcome = "timeout"
            self._transition(State.RUNNING, f"{node.id}: {outcome}")
            self._outcome(node, outcome)

    def _timer_fired(self, name: str) -> None:
        purpose = next((p for p, n in self._timers.items() if n == name), None)
        if purpose is None:
            self._note(f"stale timer {name}")
            return
        del self._timers[purpose]
        self._due.pop(name, None)
        if purpose == "noinput" and self.state is State.COLLECTING:
            self._caller_input(e.NoInput())
        elif purpose == "lookup" and self.state is State.FETCHING:
            self._lookup_done("timeout", {})
        elif purpose == "queue" and self.state is State.QUEUED:
            self._result(e.QueueTimeout())
        elif purpose == "limit":
            self._note("the tenant's IVR time limit is reached")
            self._waiting = None
            self._pending = None
            target = self._error_target()
            if target is None:
                self._end("timeout")
            else:
                self._goto(target)

    # ------------------------------------------------------------------ input
    def _collect(self, node: ir.Node) -> None:
        self._waiting = node
        if self.state is not State.COLLECTING:
            self._transition(State.COLLECTING, node.id)
        timeout = node.timeout or DEFAULT_TIMEOUT
        choices = self._choices(node)
        if node.kind == "ask":
            dtmf, speech = node.dtmf, node.speech or node.text_input
            phrases: tuple[str, ...] = ()
        else:
            longest = max((len(c.key) for c in choices), default=1)
            dtmf, speech = (1, longest), True
            phrases = tuple(p for c in choices for p in c.phrases)
        self._out.append(a.Collect(node.id, self.mode, dtmf, speech, phrases, choices, timeout))
        self._cancel("noinput")
        if self._playing == 0:
            self._timer("noinput", timeout)

    def _choices(self, node: ir.Node) -> tuple[a.Choice, ...]:
        if node.kind == "menu":
            out = []
            for i, opt in enumerate(node.options, 1):
                key = opt.keys[0] if opt.keys else str(i)
                out.append(a.Choice(key, opt.phrases[0] if opt.phrases else key, opt.phrases))
            return tuple(out)
        if node.kind == "callback":
            zh = str(self._scope.vars.get("locale") or self.locale).startswith("zh")
            return (a.Choice("1", "是" if zh else "Yes", ("yes", "是")),
                    a.Choice("2", "否" if zh else "No", ("no", "否")))
        fld = find_field(self.config, node.validate) if node.validate else None
        if fld is not None and fld.choices:
            return tuple(a.Choice(str(i), c, (c,)) for i, c in enumerate(fld.choices, 1))
        return ()

    def _prompt_finished(self) -> None:
        if self._playing == 0:
            return
        self._playing -= 1
        if self._playing == 0:
            self._playing_bargeable = True
            if self.state is State.COLLECTING and "noinput" not in self._timers \
                    and self._waiting is not None:
                self._timer("noinput", self._waiting.timeout or DEFAULT_TIMEOUT)

    def _caller_input(self, event: e.Event) -> None:
        node = self._waiting
        if self.state is not State.COLLECTING or node is None:
            self._note(f"{type(event).__name__} ignored: nothing is collecting")
            return
        if self._playing and not isinstance(event, e.NoInput):
            if not self._playing_bargeable:
                self._note(f"{type(event).__name__} ignored: the prompt does not allow barge-in")
                return
            self._note("barge-in")
            self._out.append(a.StopPrompts())
            self._playing = 0
            self._playing_bargeable = True
        self._cancel("noinput")
        if isinstance(event, e.NoInput):
            self._event(node, "noinput")
        elif isinstance(event, e.Speech) and event.confidence < self.min_confidence:
            self._note(f"speech confidence {event.confidence} too low")
            self._event(node, "nomatch")
        elif node.kind == "menu":
            chosen = self._match_option(node, event)
            if chosen is None:
                self._event(node, "nomatch")
            else:  # the answer is the option's key (its number when it has only words)
                index = node.options.index(chosen) + 1
                self._scope.assign(node.id, chosen.keys[0] if chosen.keys else str(index))
                self._leave(node, chosen.target)
        elif node.kind == "callback":
            self._confirm(node, event)
        else:
            self._answer(node, event)

    def _leave(self, node: ir.Node, target: str | None) -> None:
        self._waiting = None
        self._transition(State.RUNNING, f"{node.id} -> {target}")
        self._goto(target)

    def _confirm(self, node: ir.Node, event: e.Event) -> None:
        word = _TRAILING_PUNCT.sub("", _value(event).strip().lower())
        if word in YES_WORDS:
            number = fmt(self._scope.lookup("caller.number"))
            self._out.append(a.ScheduleCallback(node.ref or "", number))
            answer = "accepted"
        elif word in NO_WORDS:
            answer = "declined"
        else:
            self._event(node, "nomatch")
            return
        self._waiting = None
        self._transition(State.RUNNING, f"{node.id}: {answer}")
        self._outcome(node, answer)

    def _answer(self, node: ir.Node, event: e.Event) -> None:
        value = _value(event).strip()
        keyed = isinstance(event, e.Digits) or (
            not isinstance(event, e.Speech) and node.dtmf is not None
            and value != "" and all(c in "0123456789*#" for c in value))
        if keyed:
            if node.dtmf is None:
                self._event(node, "nomatch")
                return
            lo, hi = node.dtmf
            if not (lo <= len(value) <= hi and all(c in "0123456789*#" for c in value)):
                self._event(node, "nomatch")
                return
        elif not (node.speech or node.text_input or self.mode is not a.Mode.VOICE):
            self._event(node, "nomatch")
            return
        fld = find_field(self.config, node.validate) if node.validate else None
        if fld is not None:
            chosen = next((c for c in self._choices(node) if c.key == value), None)
            if chosen is not None:
                value = chosen.label
            problem = validate_field(fld, value)
            if problem is not None:
                self._note(f"{node.id}: {value!r} fails {problem[0]}")
                self._event(node, "nomatch", problem[1])
                return
        self._scope.assign(node.id, value)
        self._leave(node, node.next)

    def _match_option(self, node: ir.Node, event: e.Event) -> ir.Option | None:
        value = _value(event).strip()
        norm = _TRAILING_PUNCT.sub("", value.lower())
        if isinstance(event, e.Digits):
            return next((o for o in node.options if value in o.keys), None)
        if not isinstance(event, e.Speech):
            for i, opt in enumerate(node.options, 1):
                if norm in opt.keys or (not opt.keys and norm == str(i)):
                    return opt
        for opt in node.options:
            if any(p.lower() == norm for p in opt.phrases):
                return opt
        for opt in node.options:  # a phrase inside a longer utterance
            if norm and any(p.lower() in norm for p in opt.phrases):
                return opt
        return None

    def _event(self, node: ir.Node, event: str, hint: ir.Text | None = None) -> None:
        count = self._counters.get(event, 0) + 1
        self._counters[event] = count
        self._note(f"{node.id}: {event} {count}")
        handlers = {h.count: h for h in self._frame.flow.handlers if event in h.events}
        handlers.update({h.count: h for h in node.handlers if event in h.events})
        eligible = [c for c in handlers if c <= count]
        handler = handlers[max(eligible)] if eligible else None
        if handler is not None and handler.action == "goto":
            self._leave(node, handler.target)
            return
        if count > self.max_retries:
            self._waiting = None
            target = self._error_target()
            self._note(f"{node.id}: retries exhausted")
            if target is None:
                self._end("retries_exhausted")
            else:
                self._transition(State.RUNNING, f"{node.id}: retries exhausted")
                self._goto(target)
            return
        self._say(handler.text if handler is not None and handler.text is not None else hint)
        self._say(node.prompt)
        self._collect(node)


def _value(event: e.Event) -> str:
    if isinstance(event, e.Digits):
        return event.digits
    if isinstance(event, e.Speech | e.Text):
        return event.text
    if isinstance(event, e.Touch):
        return event.choice
    return ""
