"""The ticket workflow engine: a sans-I/O state machine built from an IR workflow.

Each call takes a :class:`~kefu.runtime.workflow.model.Ticket` and ``now`` and returns a
:class:`~kefu.runtime.workflow.model.Step` — the new ticket (the input is never mutated),
the actions for the host (notify, assign, raise priority, schedule a follow-up, emit an
event) and the history entries added. Timers are inputs: the host calls :meth:`tick` at
``step.wake_at`` (or whenever it likes; ticking twice does nothing twice).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from kefu.dsl import ir
from kefu.runtime.calendar import BusinessCalendar, resolve
from kefu.runtime.expressions import evaluate
from kefu.runtime.rules.expressions import Scope
from kefu.runtime.workflow.model import (
    SYSTEM,
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
    Ticket,
    WorkflowAction,
    raised,
)

_DAY = 86_400


class WorkflowError(Exception):
    """A request the workflow cannot carry out (base class)."""


class UnknownWorkflow(WorkflowError):
    """No workflow of that id in the tenant's config."""


class InvalidTransition(WorkflowError):
    """No transition of that name or target leaves the ticket's current state."""


class NotAllowed(WorkflowError):
    """The actor has none of the roles the transition allows; ``allowed`` names them."""

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class GuardFailed(WorkflowError):
    """The transition's guard condition is false for this ticket."""


class MissingFields(WorkflowError):
    """Required form fields are empty; ``fields`` lists their ids."""

    def __init__(self, message: str, fields: tuple[str, ...]) -> None:
        super().__init__(message)
        self.fields = fields


class _Builder:
    """Accumulates the new ticket, actions and history of one engine call."""

    def __init__(self, ticket: Ticket, now: dt.datetime, actor: Actor) -> None:
        self.ticket = ticket
        self.now = now
        self.actor = actor
        self.actions: list[WorkflowAction] = []
        self.history: list[HistoryEntry] = []

    def log(self, action: str, *, actor: Actor | None = None, from_state: str | None = None,
            to_state: str | None = None, changes: Mapping[str, tuple[Any, Any]] | None = None,
            comment: str | None = None) -> None:
        who = (actor or self.actor).id
        self.history.append(HistoryEntry(self.now, action, who, from_state, to_state,
                                         dict(changes or {}), comment))

    def update(self, **changes: Any) -> None:
        self.ticket = dataclasses.replace(self.ticket, **changes)

    def emit(self, event: str, **extra: Any) -> None:
        data = {"ticket": self.ticket.variables(), **extra}
        self.actions.append(Emit(event, self.ticket.id, data))


class WorkflowEngine:
    """All workflows of one tenant config.

    Args:
        config: the compiled tenant config.
        guards: extra conditions per transition, keyed ``"workflow/transition"``, as IR
            expressions over ``ticket.*`` (the DSL has no guard syntax yet; hosts and tests
            supply them here).
        followup_calendar: when set, follow-ups declared in whole days count *working* days
            of this calendar (2d after a Friday repair → Tuesday); otherwise calendar days.
        validate_required: refuse to create a ticket whose form's required fields are empty.

    Raises:
        kefu.runtime.calendar.CalendarError: ``followup_calendar`` is not a calendar.
    """

    def __init__(self, config: ir.Config, *, guards: Mapping[str, Any] | None = None,
                 followup_calendar: str | None = None, validate_required: bool = True) -> None:
        self.config = config
        self.guards = dict(guards or {})
        self.validate_required = validate_required
        self._workflows = {w.id: w for w in config.workflows}
        self._calendars: dict[str | None, BusinessCalendar] = {}
        self._followup_calendar = (self.calendar(followup_calendar)
                                   if followup_calendar else None)
        self._routable = {n.id for n in config.departments} | {t.id for t in config.teams}

    # ------------------------------------------------------------------ lookups
    def workflow(self, workflow_id: str) -> ir.Workflow:
        """The IR workflow ``workflow_id``.

        Raises:
            UnknownWorkflow: there is none.
        """
        wf = self._workflows.get(workflow_id)
        if wf is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise UnknownWorkflow(f"no workflow `{workflow_id}` (known: {known})")
        return wf

    def calendar(self, calendar_id: str | None) -> BusinessCalendar:
        """The business calendar an SLA names (the tenant's default when None)."""
        cal = self._calendars.get(calendar_id)
        if cal is None:
            cal = resolve(self.config, calendar_id)
            self._calendars[calendar_id] = cal
        return cal

    def moves(self, ticket: Ticket, actor: Actor | None = None) -> tuple[ir.Transition, ...]:
        """Transitions leaving the ticket's state, only those ``actor`` may take if given."""
        wf = self.workflow(ticket.workflow)
        return tuple(t for t in wf.transitions if ticket.state in t.sources
                     and (actor is None or _allowed(t, actor)))

    # ------------------------------------------------------------------ commands
    def create(self, workflow_id: str, fields: Mapping[str, Any], actor: Actor,
               now: dt.datetime, *, ticket_id: str, priority: str = "normal",
               assignee: str | None = None, agent: str | None = None) -> Step:
        """A new ticket in the workflow's initial state, with its SLA clocks started.

        Raises:
            UnknownWorkflow: no such workflow.
            MissingFields: a required form field is empty (with ``validate_required``).
            kefu.runtime.calendar.CalendarError: ``now`` is naive, or an SLA calendar has
                no working time.
        """
        wf = self.workflow(workflow_id)
        if self.validate_required:
            self._check_required(wf, fields, now)
        ticket = Ticket(ticket_id, wf.id, wf.initial, dict(fields), now, now, priority,
                        assignee, agent)
        b = _Builder(ticket, now, actor)
        b.log("created", to_state=wf.initial,
              changes={k: (None, v) for k, v in fields.items()})
        if assignee or agent:
            b.actions.append(Assign(ticket_id, assignee, "created", agent))
        self._enter(b, wf, wf.initial)
        b.emit("ticket.created")
        return self._finish(b)

    def transition(self, ticket: Ticket, to: str, actor: Actor, now: dt.datetime, *,
                   changes: Mapping[str, Any] | None = None,
                   comment: str | None = None) -> Step:
        """Move ``ticket`` by transition name or target state ``to``.

        ``changes`` are form-field updates made with the move (recorded in the same history
        entry). The transition's ``assign`` routes the ticket, its ``notify`` tells people,
        SLAs start or stop, follow-ups are scheduled or completed.

        Raises:
            InvalidTransition: nothing named or leading to ``to`` leaves the current state.
            NotAllowed: the actor lacks every role the transition allows (named in the error).
            GuardFailed: the transition's guard is false.
        """
        wf = self.workflow(ticket.workflow)
        candidates = [t for t in wf.transitions if ticket.state in t.sources and t.id == to]
        if not candidates:
            candidates = [t for t in wf.transitions
                          if ticket.state in t.sources and t.target == to]
        if not candidates:
            possible = ", ".join(f"{t.id} → {t.target}" for t in self.moves(ticket)) or "none"
            raise InvalidTransition(
                f"ticket {ticket.id} is `{ticket.state}`: no transition `{to}` from there "
                f"(possible: {possible})")
        permitted = [t for t in candidates if _allowed(t, actor)]
        if not permitted:
            allowed = tuple(dict.fromkeys(r for t in candidates for r in t.roles))
            t = candidates[0]
            have = ", ".join(sorted(actor.roles)) or "no roles"
            raise NotAllowed(
                f"transition `{t.id}` ({ticket.state} → {t.target}) needs one of the roles "
                f"{', '.join(allowed)}; {actor.id or 'the actor'} has {have}", allowed)
        chosen = permitted[0]
        updated = {**ticket.fields, **(changes or {})}
        self._check_guard(wf, chosen, dataclasses.replace(ticket, fields=updated), now)
        b = _Builder(ticket, now, actor)
        self._move(b, wf, chosen, changes or {}, comment)
        return self._finish(b)

    def update(self, ticket: Ticket, changes: Mapping[str, Any], actor: Actor,
               now: dt.datetime, *, comment: str | None = None) -> Step:
        """Change form fields without moving; unchanged values are not recorded."""
        diff = {k: (ticket.fields.get(k), v) for k, v in changes.items()
                if ticket.fields.get(k) != v}
        b = _Builder(ticket, now, actor)
        if diff:
            b.update(fields={**ticket.fields, **{k: new for k, (_o, new) in diff.items()}})
            b.log("updated", changes=diff, comment=comment)
            b.emit("ticket.changed", changes=list(diff))
        return self._finish(b)

    def assign(self, ticket: Ticket, actor: Actor, now: dt.datetime, *,
               department: str | None = None, agent: str | None = None,
               reason: str = "manual") -> Step:
        """Route the ticket to a department/team and/or an agent."""
        b = _Builder(ticket, now, actor)
        self._assign(b, department if department is not None else ticket.assignee,
                     agent if agent is not None else ticket.agent, reason)
        return self._finish(b)

    def tick(self, ticket: Ticket, now: dt.datetime) -> Step:
        """Act on every timer that has passed by ``now``, each exactly once.

        In time order per SLA: the warning (notify ``warn`` targets, emit
        ``ticket.sla_warning``), the breach (notify ``breach`` targets, raise the priority one
        level, emit ``ticket.sla_breached``) and each ``escalate after`` step (notify, raise
        the priority, and reassign to the first target that is a department or team). Then an
        ``auto after`` transition whose time in the current state has passed, and follow-ups
        past due (``followup.due``).
        """
        wf = self.workflow(ticket.workflow)
        b = _Builder(ticket, now, SYSTEM)
        self._sla_timers(b)
        for t in wf.transitions:
            if (t.auto_after is not None and b.ticket.state in t.sources
                    and now >= b.ticket.state_since + dt.timedelta(seconds=t.auto_after)):
                self._move(b, wf, t, {}, f"automatic after {t.auto_after}s")
                break
        tasks = []
        for task in b.ticket.followups:
            if not task.done and not task.due_fired and now >= task.due_at:
                b.actions.append(FollowupDue(ticket.id, task.followup, task.due_at))
                b.log("followup_due", comment=task.followup)
                b.emit("followup.due", followup={"id": task.followup, "form": task.form,
                                                 "due_at": task.due_at.isoformat()})
                tasks.append(dataclasses.replace(task, due_fired=True))
            else:
                tasks.append(task)
        b.update(followups=tuple(tasks))
        return self._finish(b)

    def next_wakeup(self, ticket: Ticket) -> dt.datetime | None:
        """The earliest pending timer of ``ticket`` (None when nothing is pending)."""
        times: list[dt.datetime] = []
        for c in ticket.slas:
            if not c.running:
                continue
            if c.warn_at is not None and "warn" not in c.fired:
                times.append(c.warn_at)
            if "breach" not in c.fired:
                times.append(c.due_at)
            times += [at for i, at in enumerate(c.escalate_at) if f"escalate:{i}" not in c.fired]
        wf = self.workflow(ticket.workflow)
        times += [ticket.state_since + dt.timedelta(seconds=t.auto_after)
                  for t in wf.transitions if t.auto_after is not None
                  and ticket.state in t.sources]
        times += [f.due_at for f in ticket.followups if not f.done and not f.due_fired]
        return min(times) if times else None

    # ------------------------------------------------------------------ internals
    def _finish(self, b: _Builder) -> Step:
        ticket = dataclasses.replace(b.ticket, history=b.ticket.history + tuple(b.history))
        return Step(ticket, tuple(b.actions), tuple(b.history), self.next_wakeup(ticket))

    def _check_required(self, wf: ir.Workflow, fields: Mapping[str, Any],
                        now: dt.datetime) -> None:
        form = next((f for f in self.config.forms if f.id == wf.form), None)
        if form is None:
            return
        scope = Scope(fields, now, self.config)
        missing = tuple(
            f.id for f in form.fields
            if any(r.kind == "required" and r.value for r in f.rules)
            and (f.when is None or evaluate(f.when, scope))
            and fields.get(f.id) in (None, ""))
        if missing:
            raise MissingFields(f"workflow `{wf.id}` needs form `{form.id}` fields: "
                                f"{', '.join(missing)}", missing)

    def _check_guard(self, wf: ir.Workflow, t: ir.Transition, ticket: Ticket,
                     now: dt.datetime) -> None:
        guard = self.guards.get(f"{wf.id}/{t.id}")
        if guard is None:
            return
        scope = Scope({"ticket": ticket.variables()}, now, self.config)
        if not evaluate(guard, scope):
            raise GuardFailed(f"transition `{t.id}` of ticket {ticket.id} is not possible: "
                              f"its condition does not hold")

    def _move(self, b: _Builder, wf: ir.Workflow, t: ir.Transition,
              changes: Mapping[str, Any], comment: str | None) -> None:
        old = b.ticket.state
        diff = {k: (b.ticket.fields.get(k), v) for k, v in changes.items()
                if b.ticket.fields.get(k) != v}
        b.update(state=t.target, state_since=b.now,
                 fields={**b.ticket.fields, **{k: n for k, (_o, n) in diff.items()}})
        b.log("transition", from_state=old, to_state=t.target,
              changes={"state": (old, t.target), **diff}, comment=comment or t.id)
        if t.assign:
            self._assign(b, t.assign, b.ticket.agent, f"transition {t.id}")
        if t.notify:
            b.actions.append(Notify(b.ticket.id, t.notify, "transition"))
        self._enter(b, wf, t.target)
        b.emit("ticket.changed", transition=t.id, from_state=old, to_state=t.target)
        if t.target in wf.finals:
            b.emit("ticket.closed")

    def _assign(self, b: _Builder, department: str | None, agent: str | None,
                reason: str) -> None:
        old = (b.ticket.assignee, b.ticket.agent)
        if old == (department, agent):
            return
        b.update(assignee=department, agent=agent)
        changes = {}
        if old[0] != department:
            changes["assignee"] = (old[0], department)
        if old[1] != agent:
            changes["agent"] = (old[1], agent)
        b.log("assigned", changes=changes, comment=reason)
        b.actions.append(Assign(b.ticket.id, department, reason, agent))

    def _enter(self, b: _Builder, wf: ir.Workflow, state: str) -> None:
        """Stop, start SLAs and schedule or complete follow-ups on entering ``state``."""
        order = {s: i for i, s in enumerate(wf.states)}
        final = state in wf.finals
        clocks = []
        for clock in b.ticket.slas:
            sla = next(s for s in wf.slas if s.id == clock.sla)
            if clock.running and (final or order.get(state, -1) >= order.get(sla.stop, 0)):
                stopped = dataclasses.replace(clock, stopped_at=b.now)
                verdict = "late" if stopped.overdue(b.now) else "in time"
                b.log("sla_stopped", comment=f"{sla.id} {verdict}")
                clocks.append(stopped)
            else:
                clocks.append(clock)
        started = {c.sla for c in clocks}
        for sla in wf.slas:
            if sla.start == state and sla.id not in started and not final:
                clocks.append(self._start_clock(sla, b.now))
                b.log("sla_started", comment=f"{sla.id} due {clocks[-1].due_at.isoformat()}")
        b.update(slas=tuple(clocks))
        tasks = []
        for task in b.ticket.followups:
            if not task.done and (state == task.target or final):
                b.actions.append(FollowupDone(b.ticket.id, task.followup))
                b.log("followup_done", comment=task.followup)
                tasks.append(dataclasses.replace(task, done=True))
            else:
                tasks.append(task)
        scheduled = {t.followup for t in tasks}
        for fu in wf.followups:
            if fu.state == state and fu.id not in scheduled:
                due = self._followup_due(b.now, fu.within)
                tasks.append(FollowupTask(fu.id, due, fu.form, fu.target))
                b.actions.append(ScheduleFollowup(b.ticket.id, fu.id, due, fu.form, fu.target))
                b.log("followup_scheduled", comment=f"{fu.id} due {due.isoformat()}")
        b.update(followups=tuple(tasks))
        if final and b.ticket.closed_at is None:
            b.update(closed_at=b.now)

    def _start_clock(self, sla: ir.Sla, now: dt.datetime) -> SlaClock:
        cal = self.calendar(sla.calendar)
        warn = (cal.add_business_time(now, sla.within * sla.warn_percent / 100)
                if sla.warn_percent is not None else None)
        return SlaClock(sla.id, cal.id, now, cal.add_business_time(now, sla.within), warn,
                        tuple(cal.add_business_time(now, e.after) for e in sla.escalations))

    def _followup_due(self, now: dt.datetime, within: int) -> dt.datetime:
        cal = self._followup_calendar
        if cal is not None and within % _DAY == 0:
            return cal.add_business_days(now, within // _DAY)
        if cal is not None:
            return cal.add_business_time(now, within)
        return now + dt.timedelta(seconds=within)

    def _sla_timers(self, b: _Builder) -> None:
        wf = self.workflow(b.ticket.workflow)
        clocks = []
        for clock in b.ticket.slas:
            clocks.append(self._fire(b, wf, clock) if clock.running else clock)
        b.update(slas=tuple(clocks))

    def _fire(self, b: _Builder, wf: ir.Workflow, clock: SlaClock) -> SlaClock:
        sla = next(s for s in wf.slas if s.id == clock.sla)
        marks: list[tuple[dt.datetime, str]] = []
        if clock.warn_at is not None:
            marks.append((clock.warn_at, "warn"))
        marks.append((clock.due_at, "breach"))
        marks += [(at, f"escalate:{i}") for i, at in enumerate(clock.escalate_at)]
        fired = set(clock.fired)
        tid = b.ticket.id
        for at, mark in sorted(marks):
            if mark in fired or b.now < at:
                continue
            fired.add(mark)
            sla_data = {"id": sla.id, "due_at": clock.due_at.isoformat()}
            if mark == "warn":
                b.log("sla_warning", comment=sla.id)
                if sla.warn_notify:
                    b.actions.append(Notify(tid, sla.warn_notify, "sla_warning", sla.id))
                b.emit("ticket.sla_warning", sla=sla_data)
            elif mark == "breach":
                b.log("sla_breached", comment=sla.id)
                if sla.breach_notify:
                    b.actions.append(Notify(tid, sla.breach_notify, "sla_breached", sla.id))
                self._raise(b, f"{sla.id} breached")
                b.emit("ticket.sla_breached", sla=sla_data)
            else:
                esc = sla.escalations[int(mark.split(":")[1])]
                b.log("escalated", comment=f"{sla.id} after {esc.after}s")
                b.actions.append(Notify(tid, esc.notify, "escalated", sla.id))
                self._raise(b, f"{sla.id} escalated")
                target = next((n for n in esc.notify if n in self._routable), None)
                if target is not None:
                    self._assign(b, target, None, f"{sla.id} escalated")
        return dataclasses.replace(clock, fired=frozenset(fired))

    def _raise(self, b: _Builder, reason: str) -> None:
        old = b.ticket.priority
        new = raised(old)
        if new == old:
            return
        b.update(priority=new)
        b.log("priority_raised", changes={"priority": (old, new)}, comment=reason)
        b.actions.append(RaisePriority(b.ticket.id, old, new, reason))


def _allowed(t: ir.Transition, actor: Actor) -> bool:
    """Anyone may take a transition without roles. (Automatic transitions are taken by
    :meth:`WorkflowEngine.tick` directly and need no roles.)"""
    return not t.roles or bool(actor.roles & set(t.roles))
