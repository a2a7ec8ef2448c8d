"""The platform side of the workflow engine: ORM tickets ⇄ engine tickets, and engine steps
applied to the database.

A ticket follows a workflow when its ``type`` names a workflow of the tenant's deployed config
and its ``state`` is one of that workflow's states (tickets opened free-form before a config
was deployed keep moving free-form). The engine's state that has no column of its own — SLA
clocks and follow-up tasks — is kept in the ticket's history: ``sla_started`` rows carry the
clock (``{"sla.<id>": [null, {...}]}``), ``sla_stopped`` rows its stop time, and
``followup_scheduled`` / ``followup_done`` rows the task, so the engine ticket is rebuilt from
the row and its history on every change.

What maps onto the ticket is persisted (state, priority, department, agent, due times,
``closed_at``, and ``next_wakeup_at``, when the engine must next look at the ticket); the
rest of a step's actions (notifications, follow-up tasks, the events for the rules engine) is
recorded in the ``changes`` of the step's first history row and carried out in the same
transaction by :class:`kefu.platform.automation.effects.StepEffects`. SLA marks already acted
on (``sla_fired.<sla>``) and follow-ups already due (``followup_due.<id>``) are kept in the
history too, so a timer never fires twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.dsl import ir
from kefu.platform.automation.effects import StepEffects
from kefu.platform.tenancy.sequences import next_in_tenant
from kefu.platform.tickets.models import Priority, Ticket, TicketEvent
from kefu.runtime.workflow import (
    Actor,
    Assign,
    Emit,
    FollowupDone,
    FollowupDue,
    FollowupTask,
    HistoryEntry,
    Notify,
    RaisePriority,
    ScheduleFollowup,
    SlaClock,
    Step,
    WorkflowEngine,
)
from kefu.runtime.workflow import Ticket as EngineTicket

_ENGINES: OrderedDict[uuid.UUID, WorkflowEngine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
_MAX_ENGINES = 64


def engine_for(version_id: uuid.UUID, config: ir.Config) -> WorkflowEngine:
    """The workflow engine of a compiled config version (cached: versions are immutable)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(version_id)
        if engine is not None:
            _ENGINES.move_to_end(version_id)
            return engine
    engine = WorkflowEngine(config)
    with _ENGINES_LOCK:
        _ENGINES[version_id] = engine
        while len(_ENGINES) > _MAX_ENGINES:
            _ENGINES.popitem(last=False)
    return engine


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _agent_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _actor_id(value: str | None) -> uuid.UUID | None:
    return _agent_id(value)


class TicketWorkflow:
    """Opens and moves the tickets of one tenant through its deployed workflows."""

    def __init__(self, db: Session, engine: WorkflowEngine, *,
                 effects: StepEffects | None = None) -> None:
        self.db = db
        self.engine = engine
        # Without a job queue or bus the effects still happen (rows are written); the sweep
        # then queues the rules jobs, and nothing is announced live.
        self.effects = effects if effects is not None else StepEffects(db)

    # ------------------------------------------------------------------ queries
    def names(self) -> list[str]:
        """The workflows of the config, sorted."""
        return sorted(w.id for w in self.engine.config.workflows)

    def workflow_of(self, ticket: Ticket) -> ir.Workflow | None:
        """The workflow ``ticket`` follows (None: it moves free-form)."""
        wf = next((w for w in self.engine.config.workflows if w.id == ticket.type), None)
        return wf if wf is not None and ticket.state in wf.states else None

    def has(self, workflow_id: str) -> bool:
        return any(w.id == workflow_id for w in self.engine.config.workflows)

    # ------------------------------------------------------------------ commands
    def create(self, fields: dict[str, Any], actor_user_id: uuid.UUID | None,
               roles: frozenset[str], now: dt.datetime) -> Ticket:
        """Open a ticket in its workflow's initial state, SLA clocks started.

        Raises:
            kefu.runtime.workflow.UnknownWorkflow, MissingFields: from the engine.
        """
        ticket_id = uuid.uuid4()
        agent = fields.get("assignee_agent_id")
        step = self.engine.create(
            fields["type"], dict(fields.get("data") or {}), self._actor(actor_user_id, roles),
            now, ticket_id=str(ticket_id),
            priority=str(fields.get("priority") or Priority.NORMAL),
            assignee=fields.get("department"), agent=None if agent is None else str(agent))
        row = {k: v for k, v in fields.items() if k not in ("state",)}
        ticket = Ticket(**row, id=ticket_id, state=step.ticket.state,
                        created_by_user_id=actor_user_id, created_at=now)
        ticket.number = next_in_tenant(self.db, Ticket.number, "tickets")
        self.db.add(ticket)
        self.db.flush()
        self._apply(ticket, step)
        # A workflow without SLAs leaves due times sent with the ticket as they were.
        ticket.response_due_at = ticket.response_due_at or fields.get("response_due_at")
        ticket.resolve_due_at = ticket.resolve_due_at or fields.get("resolve_due_at")
        self.db.flush()
        return ticket

    def transition(self, ticket: Ticket, to: str, actor_user_id: uuid.UUID | None,
                   roles: frozenset[str], now: dt.datetime) -> Step:
        """Move ``ticket`` by transition name or target state ``to``.

        Raises:
            kefu.runtime.workflow.InvalidTransition, NotAllowed, GuardFailed: from the engine.
        """
        step = self.engine.transition(self.to_engine(ticket), to,
                                      self._actor(actor_user_id, roles), now)
        self._apply(ticket, step)
        self.db.flush()
        return step

    def tick(self, ticket: Ticket, now: dt.datetime) -> Step:
        """Act on every timer of ``ticket`` that has passed by ``now`` (SLA warnings,
        breaches, escalations, automatic transitions, follow-ups falling due), each once."""
        step = self.engine.tick(self.to_engine(ticket), now)
        self._apply(ticket, step)
        self.db.flush()
        return step

    def update(self, ticket: Ticket, fields: dict[str, Any], actor_user_id: uuid.UUID | None,
               roles: frozenset[str], now: dt.datetime) -> Step:
        """Change form fields through the engine (history, ``ticket.changed``)."""
        step = self.engine.update(self.to_engine(ticket), fields,
                                  self._actor(actor_user_id, roles), now)
        self._apply(ticket, step)
        self.db.flush()
        return step

    def assign(self, ticket: Ticket, department: str, actor_user_id: uuid.UUID | None,
               roles: frozenset[str], now: dt.datetime, *, reason: str = "manual") -> Step:
        """Route ``ticket`` to a department or team through the engine (with history)."""
        step = self.engine.assign(self.to_engine(ticket), self._actor(actor_user_id, roles),
                                  now, department=department, reason=reason)
        self._apply(ticket, step)
        self.db.flush()
        return step

    # ------------------------------------------------------------------ mapping
    def to_engine(self, ticket: Ticket) -> EngineTicket:
        """The engine's view of ``ticket``, its clocks and follow-ups rebuilt from history."""
        events = self.db.scalars(
            sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.created_at, TicketEvent.id)).all()
        clocks: dict[str, SlaClock] = {}
        tasks: dict[str, FollowupTask] = {}
        fired: dict[str, set[str]] = {}
        due: set[str] = set()
        state_since = ticket.created_at
        for event in events:
            if event.action == "transition":
                state_since = event.created_at
            for key, value in (event.changes or {}).items():
                kind, _, name = key.partition(".")
                new = value[1] if isinstance(value, list) and len(value) == 2 else None
                if kind == "sla" and isinstance(new, dict):
                    clocks[name] = SlaClock(
                        name, new["calendar"], _time(new["started_at"]) or _at(event),
                        _time(new["due_at"]) or _at(event), _time(new.get("warn_at")),
                        tuple(t for t in (_time(v) for v in new.get("escalate_at", ()))
                              if t is not None))
                elif kind == "sla_stopped" and name in clocks:
                    clocks[name] = _replace(clocks[name], stopped_at=_time(new))
                elif kind == "followup" and isinstance(new, dict):
                    tasks[name] = FollowupTask(name, _time(new["due_at"]) or _at(event),
                                               new.get("form"), new.get("target"))
                elif kind == "followup_done" and name in tasks:
                    tasks[name] = _replace(tasks[name], done=True)
                elif kind == "sla_fired" and isinstance(new, list):
                    fired.setdefault(name, set()).update(str(mark) for mark in new)
                elif kind == "followup_due" and new is True:
                    due.add(name)
        for name, marks in fired.items():
            if name in clocks:
                clocks[name] = _replace(clocks[name], fired=frozenset(marks))
        for name in due & set(tasks):
            tasks[name] = _replace(tasks[name], due_fired=True)
        agent = ticket.assignee_agent_id
        return EngineTicket(
            str(ticket.id), ticket.type, ticket.state, dict(ticket.data or {}),
            ticket.created_at, state_since, str(ticket.priority), ticket.department,
            None if agent is None else str(agent), tuple(clocks.values()),
            tuple(tasks.values()), ticket.closed_at)

    def _apply(self, ticket: Ticket, step: Step) -> None:
        """Persist what maps onto the row (``next_wakeup_at`` included), write the step's
        history (the actions that have no column of their own recorded in its ``changes``)
        and carry those actions out in the same transaction."""
        new = step.ticket
        ticket.state = new.state
        ticket.priority = Priority(new.priority)
        ticket.department = new.assignee
        agent = _agent_id(new.agent)
        if agent is not None or new.agent is None:
            ticket.assignee_agent_id = agent
        ticket.response_due_at = new.response_due_at
        ticket.resolve_due_at = new.resolve_due_at
        ticket.closed_at = new.closed_at
        ticket.next_wakeup_at = step.wake_at
        ticket.data = dict(new.fields)
        pending = _pending(step)
        for i, entry in enumerate(step.history):
            changes = _changes(entry, new)
            if i == 0 and pending:
                changes["actions"] = [None, pending]
            self.db.add(TicketEvent(
                ticket_id=ticket.id, action=entry.action, from_state=entry.from_state,
                to_state=entry.to_state, changes=changes, comment=entry.comment,
                actor_user_id=_actor_id(entry.actor),
                # Entries of one step share a time; a microsecond apart keeps their order.
                created_at=entry.at + dt.timedelta(microseconds=i)))
        self.db.flush()
        self.effects.carry_out(ticket, step, self.engine.config)

    @staticmethod
    def _actor(actor_user_id: uuid.UUID | None, roles: frozenset[str]) -> Actor:
        return Actor(None if actor_user_id is None else str(actor_user_id), roles)


def _at(event: TicketEvent) -> dt.datetime:
    return event.created_at


def _replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _changes(entry: HistoryEntry, ticket: EngineTicket) -> dict[str, Any]:
    """The history row's ``changes``: the entry's own, plus the clock or task it concerns."""
    changes: dict[str, Any] = {k: [_plain(o), _plain(n)] for k, (o, n) in entry.changes.items()}
    subject = (entry.comment or "").split(" ", 1)[0]
    if entry.action == "sla_started":
        clock = ticket.clock(subject)
        if clock is not None:
            changes[f"sla.{subject}"] = [None, {
                "calendar": clock.calendar, "started_at": _iso(clock.started_at),
                "due_at": _iso(clock.due_at), "warn_at": _iso(clock.warn_at),
                "escalate_at": [_iso(t) for t in clock.escalate_at]}]
    elif entry.action == "sla_stopped":
        changes[f"sla_stopped.{subject}"] = [None, _iso(entry.at)]
    elif entry.action == "followup_scheduled":
        task = next((t for t in ticket.followups if t.followup == subject), None)
        if task is not None:
            changes[f"followup.{subject}"] = [None, {
                "due_at": _iso(task.due_at), "form": task.form, "target": task.target}]
    elif entry.action == "followup_done":
        changes[f"followup_done.{subject}"] = [False, True]
    elif entry.action == "followup_due":
        changes[f"followup_due.{subject}"] = [False, True]
    elif entry.action in ("sla_warning", "sla_breached", "escalated"):
        clock = ticket.clock(subject)
        if clock is not None:
            changes[f"sla_fired.{subject}"] = [None, sorted(clock.fired)]
    return changes


def _pending(step: Step) -> list[dict[str, Any]]:
    """The step's actions that the ticket row cannot hold, as plain data, for jobs to carry
    out later: notifications, follow-up tasks and the events for the rules engine."""
    out: list[dict[str, Any]] = []
    for action in step.actions:
        if isinstance(action, Notify):
            out.append({"kind": "notify", "targets": list(action.targets),
                        "reason": action.reason, "sla": action.sla})
        elif isinstance(action, ScheduleFollowup):
            out.append({"kind": "schedule_followup", "followup": action.followup,
                        "due_at": _iso(action.due_at), "form": action.form,
                        "target": action.target})
        elif isinstance(action, FollowupDone):
            out.append({"kind": "followup_done", "followup": action.followup})
        elif isinstance(action, FollowupDue):
            out.append({"kind": "followup_due", "followup": action.followup,
                        "due_at": _iso(action.due_at)})
        elif isinstance(action, Emit):
            out.append({"kind": "event", "event": action.event})
        elif isinstance(action, Assign | RaisePriority):
            continue  # on the row (department, agent, priority)
    return out


