"""The rules engine: on an event, when conditions hold, produce actions. Sans-I/O.

:meth:`RulesEngine.handle` takes an :class:`Event` and returns a :class:`Dispatch`: one
:class:`Firing` per rule that fired (rule id, event id, the actions) and the rules that were
skipped and why. Actions are data (:class:`RuleAction`); the host carries them out.

Why rules cannot loop: every action carries the *causal chain* — the ids of the rules whose
actions led to it, this rule last. When carrying out an action produces a new event (a sent
SMS, a created ticket, a changed field), the host builds it with
:meth:`RuleAction.derive`, which copies the chain and adds one to the depth. A rule whose
id is already in an event's chain is never run for that event, so no rule can re-trigger
itself directly or through other rules; and nothing runs at all for an event deeper than
``max_depth``, which bounds chains of distinct rules too.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.runtime.expressions import evaluate, fill, fmt, holds
from kefu.runtime.rules.expressions import Scope, pick_text

#: Events deeper than this (counting derived events) run no rules.
DEFAULT_MAX_DEPTH = 4

#: The channel a ``reply`` uses, by the event it replies to.
REPLY_CHANNEL = {"sms.received": "sms", "email.received": "email", "fax.received": "fax",
                 "chat.started": "webchat", "message.received": "webchat"}

#: Where the text of an inbound message is found, for FAQ look-ups.
_QUESTION_PATHS = ("message.text", "message.subject", "message.body")


@dataclass(frozen=True)
class Event:
    """Something that happened, with its data (``message``, ``customer``, ``ticket``… as
    nested mappings). ``chain`` and ``depth`` say which rules caused it (empty and 0 for
    events from the outside world)."""

    id: str
    kind: str
    data: Mapping[str, Any]
    at: dt.datetime
    chain: tuple[str, ...] = ()
    depth: int = 0


@dataclass(frozen=True)
class RuleAction:
    """One thing for the host to do.

    ``kind`` is the DSL action: ``send`` (``channel``, ``to``, ``text``), ``reply``
    (``channel``, ``to`` = the sender, ``text``), ``faq`` (a reply whose ``text`` is the
    knowledge-base answer), ``notify`` (``target`` role/team/department, ``text``),
    ``create`` (``target`` workflow), ``assign`` (route to team/department ``target``),
    ``webhook`` (``target`` http lookup), ``callback`` (``target`` queue), ``set``
    (``var`` = ``value``), or ``tag`` (``value``). ``template`` is the template id.
    A ``faq`` action's ``value`` is the customer's question (subject and text) and
    ``min_score`` its threshold; with a ``faq`` port its ``text`` is already the answer,
    without one the host looks the answer up.
    ``raw`` is the template text before filling, for hosts that must fill it again once
    an earlier action of the same firing has run (``create`` then ``reply … {ticket.id}``).
    ``cause`` is the rule that produced it; ``chain`` the whole causal chain.
    """

    kind: str
    cause: str
    event_id: str
    chain: tuple[str, ...]
    depth: int
    channel: str | None = None
    to: Any = None
    text: str | None = None
    template: str | None = None
    target: str | None = None
    var: str | None = None
    value: Any = None
    raw: str | None = None
    # ``faq``: the least score (0..1) the answering article needs (None: the host's default).
    min_score: float | None = None

    def derive(self, event_id: str, kind: str, data: Mapping[str, Any],
               at: dt.datetime) -> Event:
        """The event that carrying out this action caused, with the causal chain attached;
        feed it back to :meth:`RulesEngine.handle`."""
        return Event(event_id, kind, data, at, self.chain, self.depth + 1)


@dataclass(frozen=True)
class Firing:
    """The record of one rule firing: which rule, on which event, doing what, when."""

    rule: str
    event_id: str
    event: str
    at: dt.datetime
    actions: tuple[RuleAction, ...]


@dataclass(frozen=True)
class Skip:
    """A rule listening to the event that did not run: ``reason`` is ``in_chain`` (it caused
    the event) or ``too_deep`` (the event is past ``max_depth``)."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Dispatch:
    """All that handling one event did."""

    event: Event
    firings: tuple[Firing, ...] = ()
    skipped: tuple[Skip, ...] = field(default_factory=tuple)

    @property
    def actions(self) -> tuple[RuleAction, ...]:
        """Every action of every firing, in rule order."""
        return tuple(a for f in self.firings for a in f.actions)


class RulesEngine:
    """The rules of one tenant config.

    Args:
        config: the compiled tenant config.
        locale: which language of templates to use (default: the tenant's first locale).
        max_depth: events at a greater depth run no rules.
        faq: knowledge-base port, question text → answer or None; enables ``faq`` actions.
    """

    def __init__(self, config: ir.Config, *, locale: str | None = None,
                 max_depth: int = DEFAULT_MAX_DEPTH,
                 faq: Callable[[str], str | None] | None = None) -> None:
        self.config = config
        self.locale = locale or (config.tenant.locales[0] if config.tenant.locales else None)
        self.max_depth = max_depth
        self.faq = faq
        self._by_event: dict[str, list[ir.Rule]] = {}
        for rule in config.rules:
            self._by_event.setdefault(rule.event, []).append(rule)

    def rules_for(self, kind: str) -> tuple[ir.Rule, ...]:
        """The rules listening to event ``kind``, in id order."""
        return tuple(self._by_event.get(kind, ()))

    def handle(self, event: Event) -> Dispatch:
        """Run every rule listening to ``event`` whose conditions hold.

        Returns:
            the firings (each with its actions) and the rules skipped to prevent loops.
        """
        firings: list[Firing] = []
        skipped: list[Skip] = []
        scope = Scope({**event.data, "event": {"id": event.id, "kind": event.kind}},
                      event.at, self.config)
        for rule in self.rules_for(event.kind):
            if rule.id in event.chain:
                skipped.append(Skip(rule.id, "in_chain"))
                continue
            if event.depth > self.max_depth:
                skipped.append(Skip(rule.id, "too_deep"))
                continue
            if not holds(rule.when, scope):
                continue
            chain = (*event.chain, rule.id)
            actions = tuple(a for act in rule.actions
                            if (a := self._action(rule, act, event, scope, chain)) is not None)
            firings.append(Firing(rule.id, event.id, event.kind, event.at, actions))
        return Dispatch(event, tuple(firings), tuple(skipped))

    def run(self, event: Event,
            perform: Callable[[RuleAction], Iterable[Event]]) -> list[Dispatch]:
        """Handle ``event`` and, breadth first, every event that carrying out the actions
        causes (``perform`` carries one action out and returns the events it caused, made
        with :meth:`RuleAction.derive`). Terminates by construction: see the module notes.
        """
        out: list[Dispatch] = []
        todo = deque([event])
        while todo:
            dispatch = self.handle(todo.popleft())
            out.append(dispatch)
            for action in dispatch.actions:
                todo.extend(perform(action))
        return out

    # ------------------------------------------------------------------ actions
    def _action(self, rule: ir.Rule, act: ir.Action, event: Event, scope: Scope,
                chain: tuple[str, ...]) -> RuleAction | None:
        raw = pick_text(act.template, self.locale) if act.template else None
        text = fill(raw, scope) if raw is not None else None
        template = act.template.prompt if act.template else None
        base: dict[str, Any] = {"cause": rule.id, "event_id": event.id, "chain": chain,
                                "depth": event.depth, "template": template, "text": text,
                                "raw": raw}
        if act.kind == "send":
            to = evaluate(act.to, scope)  # None: no address known, the host reports it
            return RuleAction("send", channel=act.channel,
                              to=fmt(to) if to is not None else None, **base)
        if act.kind in ("reply", "faq"):
            channel = act.channel or REPLY_CHANNEL.get(event.kind, "webchat")
            to = scope.lookup("message.from") or scope.lookup("customer.phone")
            if act.kind == "faq":
                return self._faq_action(act, channel, to, scope, base)
            return RuleAction(act.kind, channel=channel, to=to, **base)
        if act.kind == "set":
            return RuleAction("set", var=act.var, value=evaluate(act.value, scope), **base)
        if act.kind == "tag":
            return RuleAction("tag", value=act.target or evaluate(act.value, scope), **base)
        return RuleAction(act.kind, channel=act.channel, target=act.target,
                          to=evaluate(act.to, scope), **base)

    def _faq_action(self, act: ir.Action, channel: str, to: Any, scope: Scope,
                    base: dict[str, Any]) -> RuleAction | None:
        question = self._question(scope)
        if question is None:
            return None
        if self.faq is not None:
            answer = self.faq(question)
            if answer is None:
                return None
            base = {**base, "text": answer}
        # Without a port the host answers: the question and threshold go along.
        return RuleAction("faq", channel=channel, to=to, value=question,
                          min_score=act.min_score, **base)

    @staticmethod
    def _question(scope: Scope) -> str | None:
        """The customer's message for a FAQ look-up: subject and text together (a mail's
        subject is often the question itself)."""
        parts: list[str] = []
        for path in _QUESTION_PATHS:
            value = scope.lookup(path)
            if value and str(value) not in parts:
                parts.append(str(value))
        return "\n".join(parts) if parts else None
