"""The typed AST: what each statement means, with positions for diagnostics.

:mod:`kefu.dsl.binder` builds these from the generic statement tree; :mod:`kefu.dsl.checker`
checks them and :mod:`kefu.dsl.compiler` turns them into the position-free IR. Expressions are
kept as syntax nodes (:data:`kefu.dsl.syntax.Expr`) so that checks can point inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kefu.dsl.diagnostics import NOWHERE, Span
from kefu.dsl.syntax import Expr, Name


@dataclass
class Text:
    """Text shown or spoken to a person: inline ``"…"`` (the default locale) or the name of a
    ``prompt``/``template`` that has one text per locale."""

    literal: str | None = None
    ref: Name | None = None
    span: Span = NOWHERE


@dataclass
class Tenant:
    name: Name
    title: str | None = None
    locales: list[Name] = field(default_factory=list)
    timezone: str = "UTC"
    calendar: Name | None = None
    allow_hosts: list[str] = field(default_factory=list)
    max_ivr_seconds: int | None = None
    customer_form: Name | None = None  # the form the portal offers for unknown customers
    span: Span = NOWHERE


@dataclass
class Weekly:
    days: list[int]
    ranges: list[tuple[int, int]]
    span: Span


@dataclass
class DateRule:
    first: str
    last: str
    ranges: list[tuple[int, int]]
    label: str | None
    span: Span


@dataclass
class Calendar:
    name: Name
    title: str | None = None
    timezone: str | None = None
    weekly: list[Weekly] = field(default_factory=list)
    closed: list[DateRule] = field(default_factory=list)
    workdays: list[DateRule] = field(default_factory=list)
    always: bool = False
    span: Span = NOWHERE


@dataclass
class Channel:
    kind: str
    address: str
    flow: Name | None
    locale: Name | None = None
    queue: Name | None = None  # where conversations without a flow (or past it) wait
    form: Name | None = None  # web chat: the pre-chat form
    span: Span = NOWHERE


@dataclass
class Prompt:
    name: Name
    kind: str  # "prompt" or "template"
    texts: dict[str, tuple[str, Span]] = field(default_factory=dict)
    subject: dict[str, str] = field(default_factory=dict)
    span: Span = NOWHERE


@dataclass
class Simple:
    """skill, department, role, disposition, not_ready: a name, a title and maybe levels."""

    kind: str
    name: Name
    title: str | None = None
    levels: tuple[int, int] | None = None
    span: Span = NOWHERE


@dataclass
class SkillLevel:
    skill: Name
    level: int | None
    span: Span


@dataclass
class Team:
    name: Name
    title: str | None = None
    department: Name | None = None
    skills: list[SkillLevel] = field(default_factory=list)
    members: int | None = None
    span: Span = NOWHERE


@dataclass
class QueueStep:
    after: int  # seconds in queue
    action: str  # relax | overflow | priority
    skill: SkillLevel | None = None
    queue: Name | None = None
    priority: int | None = None
    span: Span = NOWHERE


@dataclass
class Queue:
    name: Name
    title: str | None = None
    strategy: str = "longest_idle"
    strategy_span: Span = NOWHERE
    require: list[SkillLevel] = field(default_factory=list)
    prefer: list[SkillLevel] = field(default_factory=list)
    priorities: list[tuple[int, Expr, Span]] = field(default_factory=list)
    dedicated: list[tuple[Name, Expr, Span]] = field(default_factory=list)
    steps: list[QueueStep] = field(default_factory=list)
    max_wait: int | None = None
    wrap_up: int | None = None
    announce: tuple[int, Text] | None = None
    calendar: Name | None = None
    teams: list[Name] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Http:
    name: Name
    method: str = "get"
    url: str = ""
    url_span: Span = NOWHERE
    timeout_ms: int = 3000
    retries: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    returns: dict[str, str] = field(default_factory=dict)
    span: Span = NOWHERE


@dataclass
class Rule_:
    """A validation rule on a form field: required, pattern, range or length."""

    kind: str
    value: Any
    message: Text | None
    span: Span


@dataclass
class Field:
    name: Name
    type: str
    type_span: Span
    label: str | None = None
    section: str | None = None
    rules: list[Rule_] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    when: Expr | None = None
    span: Span = NOWHERE


@dataclass
class Form:
    name: Name
    title: str | None = None
    fields: list[Field] = field(default_factory=list)
    sections: list[tuple[str, str | None]] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Transition:
    name: Name
    sources: list[Name]
    target: Name
    roles: list[Name] = field(default_factory=list)
    auto_after: int | None = None
    assign: Name | None = None
    notify: list[Name] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Sla:
    name: Name
    start: Name
    stop: Name
    within: int
    calendar: Name | None = None
    warn: tuple[float, list[Name]] | None = None
    breach: list[Name] = field(default_factory=list)
    escalations: list[tuple[int, list[Name]]] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Followup:
    name: Name
    state: Name
    within: int
    target: Name | None = None
    form: Name | None = None
    span: Span = NOWHERE


@dataclass
class Workflow:
    name: Name
    title: str | None = None
    form: Name | None = None
    states: list[Name] = field(default_factory=list)
    initial: Name | None = None
    finals: list[Name] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    slas: list[Sla] = field(default_factory=list)
    followups: list[Followup] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Action:
    """One action of a messaging rule (or of a ``ticket`` step): send, reply, notify, create,
    set, webhook."""

    kind: str
    channel: str | None = None
    template: Text | None = None
    to: Expr | None = None
    target: Name | None = None
    assign: tuple[Expr, Expr] | None = None
    min_score: float | None = None  # ``answer faq above N%``
    span: Span = NOWHERE


@dataclass
class Rule:
    name: Name
    title: str | None = None
    event: str = ""
    event_span: Span = NOWHERE
    when: list[Expr] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Kpi:
    name: Name
    title: str | None = None
    service_level: float | None = None
    threshold: int | None = None
    short_abandon: int | None = None
    answered_late: int | None = None
    queues: list[Name] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Handler:
    """``on noinput [N] -> target`` / ``on nomatch [N] reprompt ["…"]``."""

    events: list[str]
    count: int
    target: Name | None
    reprompt: bool
    text: Text | None
    span: Span


@dataclass
class Option:
    keys: list[str]
    phrases: list[str]
    target: Name
    span: Span


@dataclass
class Step:
    kind: str
    name: Name
    next: Name | None = None  # explicit `-> next`, else fall through to the following step
    prompt: Text | None = None
    handlers: list[Handler] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    branches: list[tuple[Expr, Name, Span]] = field(default_factory=list)
    otherwise: Name | None = None
    exits: dict[str, tuple[Name, Span]] = field(default_factory=dict)
    ref: Name | None = None  # queue, http, flow, workflow, template target
    into: Name | None = None
    number: str | None = None
    channel: str | None = None
    to: Expr | None = None
    assign: tuple[Expr, Expr] | None = None
    dtmf: tuple[int, int] | None = None
    speech: bool = False
    text_input: bool = False
    timeout: int | None = None
    validate: tuple[Name, Name] | None = None
    sets: list[tuple[Expr, Expr]] = field(default_factory=list)
    audio: str | None = None
    span: Span = NOWHERE


@dataclass
class Flow:
    name: Name
    title: str | None = None
    handlers: list[Handler] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class TestCase:
    name: str
    flow: Name | None
    body: list[Any]  # syntax.Stmt, interpreted by kefu.runtime.ivr.flowtests
    span: Span = NOWHERE


@dataclass
class TtsChoice:
    """``tts ENGINE ["voice"] [for LOCALE, …]`` inside ``speech { }``: the text-to-speech
    engine and voice for some locales (all of them without ``for``)."""

    engine: Name
    voice: str | None = None
    locales: list[Name] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Speech:
    tts: list[TtsChoice] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class ScriptStep:
    """One step of a guided script: what the agent says or does (``say``), a form to fill
    (``form``), and the steps the agent may go on to (``next``; default the following one)."""

    name: Name
    title: str | None = None
    text: Text | None = None
    form: Name | None = None
    next: list[Name] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Script:
    """``script NAME "Title" { step … }``: a guided script (business wizard) for agents."""

    name: Name
    title: str | None = None
    steps: list[ScriptStep] = field(default_factory=list)
    span: Span = NOWHERE


@dataclass
class Config:
    """Everything one tenant declares, across all its files."""

    tenant: Tenant | None = None
    calendars: list[Calendar] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    simples: list[Simple] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    queues: list[Queue] = field(default_factory=list)
    https: list[Http] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    tests: list[TestCase] = field(default_factory=list)
    includes: list[tuple[str, Span]] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    speech: Speech | None = None
