"""The compiled form of a tenant config: the only part of ``kefu.dsl`` the runtime needs.

Immutable (frozen dataclasses), position-free, JSON-serializable and versioned. Collections
whose order means nothing (queues, flows, nodes, transitions…) are sorted by id, so reordering
definitions in the source changes neither the IR nor its hash; collections whose order matters
(menu options, form fields, rule actions, workflow states) keep source order.

Expressions are S-expressions (tuples): ``("var", "caller.vip")``, ``("str", "x")``,
``("num", 3)``, ``("bool", True)``, ``("dur", 30)`` (seconds), ``("pct", 80.0)``,
``("date", "2025-10-01")``, ``("time", 510)`` (minutes), ``("list", e…)``, ``("not", e)``,
``("call", "open", ("cal", "营业时间"))`` and ``(op, left, right)`` with op one of
``or and == != < <= > >= in + ..``.

``to_json(config)`` is canonical (sorted keys, no spaces, UTF-8) and ``config_hash`` is the
SHA-256 of it: byte-identical for the same source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

IR_VERSION = 1

Expr = Any  # an S-expression tuple, see the module docstring


@dataclass(frozen=True)
class Text:
    """Text for a person: one string per locale; ``prompt`` names the shared prompt, if any."""

    texts: dict[str, str]
    prompt: str | None = None


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str | None
    locales: tuple[str, ...]
    timezone: str
    calendar: str | None
    allow_hosts: tuple[str, ...] = ()
    max_ivr_seconds: int | None = None
    customer_form: str | None = None


@dataclass(frozen=True)
class DateRule:
    first: str
    last: str
    ranges: tuple[tuple[int, int], ...] = ()
    label: str | None = None


@dataclass(frozen=True)
class Calendar:
    """``weekly[d]`` holds the open ranges of weekday ``d`` (0 = Monday) in minutes since
    midnight; ``closed`` are holidays, ``workdays`` special opening days (调休)."""

    id: str
    title: str | None
    timezone: str
    always: bool
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    closed: tuple[DateRule, ...] = ()
    workdays: tuple[DateRule, ...] = ()


@dataclass(frozen=True)
class Channel:
    kind: str
    address: str
    flow: str | None
    locale: str | None = None
    queue: str | None = None
    form: str | None = None


@dataclass(frozen=True)
class Prompt:
    id: str
    kind: str
    texts: dict[str, str]
    subject: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Named:
    """A skill, department, role, disposition or not-ready reason."""

    id: str
    title: str | None = None
    levels: tuple[int, int] | None = None


@dataclass(frozen=True)
class SkillReq:
    skill: str
    level: int | None = None


@dataclass(frozen=True)
class Team:
    id: str
    title: str | None
    department: str | None
    skills: tuple[SkillReq, ...]
    members: int | None = None


@dataclass(frozen=True)
class QueueStep:
    after: int
    action: str
    skill: SkillReq | None = None
    queue: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class Conditional:
    when: Expr
    priority: int | None = None
    team: str | None = None


@dataclass(frozen=True)
class Queue:
    id: str
    title: str | None
    strategy: str
    require: tuple[SkillReq, ...] = ()
    prefer: tuple[SkillReq, ...] = ()
    priorities: tuple[Conditional, ...] = ()
    dedicated: tuple[Conditional, ...] = ()
    steps: tuple[QueueStep, ...] = ()
    max_wait: int | None = None
    wrap_up: int | None = None
    announce_every: int | None = None
    announce: Text | None = None
    calendar: str | None = None
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Http:
    id: str
    method: str
    url: str
    timeout_ms: int
    retries: int
    headers: tuple[tuple[str, str], ...] = ()
    returns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldRule:
    kind: str  # required | pattern | range | length
    value: Any
    message: Text | None = None


@dataclass(frozen=True)
class Field:
    id: str
    type: str
    label: str | None = None
    section: str | None = None
    rules: tuple[FieldRule, ...] = ()
    choices: tuple[str, ...] = ()
    when: Expr = None


@dataclass(frozen=True)
class Form:
    id: str
    title: str | None
    sections: tuple[tuple[str, str | None], ...]
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Transition:
    id: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...] = ()
    auto_after: int | None = None
    assign: str | None = None
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalation:
    after: int
    notify: tuple[str, ...]


@dataclass(frozen=True)
class Sla:
    id: str
    start: str
    stop: str
    within: int
    calendar: str | None = None
    warn_percent: float | None = None
    warn_notify: tuple[str, ...] = ()
    breach_notify: tuple[str, ...] = ()
    escalations: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class Followup:
    id: str
    state: str
    within: int
    target: str | None = None
    form: str | None = None


@dataclass(frozen=True)
class Workflow:
    id: str
    title: str | None
    form: str | None
    states: tuple[str, ...]
    initial: str
    finals: tuple[str, ...]
    transitions: tuple[Transition, ...] = ()
    slas: tuple[Sla, ...] = ()
    followups: tuple[Followup, ...] = ()


@dataclass(frozen=True)
class Action:
    kind: str
    channel: str | None = None
    template: Text | None = None
    to: Expr = None
    target: str | None = None
    var: str | None = None
    value: Expr = None
    # ``answer faq above N%`` (kind "faq"): the least score, 0..1, an article needs.
    min_score: float | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str | None
    event: str
    when: tuple[Expr, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Kpi:
    id: str
    title: str | None
    service_level: float | None
    threshold: int | None
    short_abandon: int | None
    answered_late: int | None
    queues: tuple[str, ...]


@dataclass(frozen=True)
class Handler:
    """``event`` occurred for the ``count``-th time: the handler with the highest count not
    above the occurrence wins (VoiceXML FIA). ``action`` is ``goto`` or ``reprompt``."""

    events: tuple[str, ...]
    count: int
    action: str
    target: str | None = None
    text: Text | None = None


@dataclass(frozen=True)
class Option:
    keys: tuple[str, ...]
    phrases: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class Branch:
    when: Expr
    target: str


@dataclass(frozen=True)
class Node:
    """One flow step. ``next`` is resolved (fall-through made explicit); ``exits`` maps the
    outcomes of fetch/enqueue/transfer/callback/call/ticket to node ids."""

    id: str
    kind: str
    next: str | None = None
    prompt: Text | None = None
    exits: dict[str, str] = field(default_factory=dict)
    handlers: tuple[Handler, ...] = ()
    options: tuple[Option, ...] = ()
    branches: tuple[Branch, ...] = ()
    otherwise: str | None = None
    ref: str | None = None
    into: str | None = None
    number: str | None = None
    channel: str | None = None
    to: Expr = None
    var: str | None = None
    value: Expr = None
    dtmf: tuple[int, int] | None = None
    speech: bool = False
    text_input: bool = False
    timeout: int | None = None
    validate: tuple[str, str] | None = None
    sets: tuple[tuple[str, Expr], ...] = ()
    audio: str | None = None


@dataclass(frozen=True)
class Flow:
    id: str
    title: str | None
    start: str
    nodes: tuple[Node, ...]
    handlers: tuple[Handler, ...] = ()

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


@dataclass(frozen=True)
class TtsChoice:
    """The text-to-speech engine (``edge``, ``espeak``, ``piper``) and voice (None: the
    engine's voice for the language) for ``locale`` (None: every locale without its own)."""

    locale: str | None
    engine: str
    voice: str | None = None


@dataclass(frozen=True)
class ScriptStep:
    """A guided-script step: its text for the agent, a form to fill, and the steps that may
    follow (explicit: the following step unless the source says otherwise; none at the end)."""

    id: str
    title: str | None
    text: Text | None = None
    form: str | None = None
    next: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script:
    """A guided script (business wizard) the portal steps an agent through; steps keep
    source order, the first is the start."""

    id: str
    title: str | None
    steps: tuple[ScriptStep, ...] = ()


@dataclass(frozen=True)
class Config:
    version: int
    tenant: Tenant
    calendars: tuple[Calendar, ...] = ()
    channels: tuple[Channel, ...] = ()
    prompts: tuple[Prompt, ...] = ()
    skills: tuple[Named, ...] = ()
    departments: tuple[Named, ...] = ()
    roles: tuple[Named, ...] = ()
    dispositions: tuple[Named, ...] = ()
    not_ready: tuple[Named, ...] = ()
    teams: tuple[Team, ...] = ()
    queues: tuple[Queue, ...] = ()
    https: tuple[Http, ...] = ()
    forms: tuple[Form, ...] = ()
    workflows: tuple[Workflow, ...] = ()
    rules: tuple[Rule, ...] = ()
    kpis: tuple[Kpi, ...] = ()
    flows: tuple[Flow, ...] = ()
    scripts: tuple[Script, ...] = ()
    tts: tuple[TtsChoice, ...] = ()  # the `speech` block, sorted by locale (None first)

    def flow(self, flow_id: str) -> Flow:
        for f in self.flows:
            if f.id == flow_id:
                return f
        raise KeyError(flow_id)


# ---------------------------------------------------------------------------- JSON


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, int, float, bool, type(None))


def to_data(obj: Any) -> Any:
    """Plain JSON data (dicts, lists, str, numbers, bools, None) for any IR object."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, tuple | list):
        return [to_data(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(obj))
        _FIELD_NAMES[cls] = names
    return {name: to_data(getattr(obj, name)) for name in names}


def to_json(config: Config) -> str:
    """Canonical JSON text: sorted keys, no insignificant spaces, non-ASCII kept as UTF-8."""
    return json.dumps(to_data(config), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def config_hash(config: Config) -> str:
    """``sha256:<hex>`` of :func:`to_json` — stable for the same source."""
    return "sha256:" + hashlib.sha256(to_json(config).encode("utf-8")).hexdigest()


def _tuplify(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuplify(i) for i in x)
    return x


_HINTS: dict[type, dict[str, Any]] = {}


def _decode(tp: Any, data: Any) -> Any:  # noqa: PLR0911 - one case per construct
    if tp is Any:
        return _tuplify(data)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(options[0], data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], x) for x in data)
        return tuple(_decode(a, x) for a, x in zip(args, data, strict=True))
    if origin is dict:
        _k, v = typing.get_args(tp)
        return {k: _decode(v, x) for k, x in data.items()}
    if dataclasses.is_dataclass(tp):
        hints = _HINTS.get(tp)  # type: ignore[arg-type]
        if hints is None:
            hints = typing.get_type_hints(tp)
            _HINTS[tp] = hints  # type: ignore[index]
        return tp(**{k: _decode(hints[k], v) for k, v in data.items()})  # type: ignore[operator]
    return data


def from_json(text: str) -> Config:
    """Rebuild a :class:`Config` from :func:`to_json` output.

    Raises:
        ValueError: the JSON is of another IR version or not an IR at all.
    """
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != IR_VERSION:
        raise ValueError(f"not a kefu IR of version {IR_VERSION}")
    result: Config = _decode(Config, data)
    return result
