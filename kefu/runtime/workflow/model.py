"""Plain data the workflow engine takes and returns: tickets, SLA clocks, follow-up tasks,
history entries and the actions a host carries out.

Everything here is a frozen dataclass of plain values (strings, aware datetimes, tuples,
mappings), so a host can persist it any way it likes — the platform maps :class:`Ticket`
onto its ``tickets`` row and :class:`HistoryEntry` onto ``ticket_events``. The runtime never
imports the platform.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Priority levels, lowest first; "raise priority" moves one step right and stops at the end.
PRIORITIES = ("low", "normal", "high", "urgent")


def raised(priority: str) -> str:
    """The next priority above ``priority`` (``urgent`` stays ``urgent``)."""
    try:
        i = PRIORITIES.index(priority)
    except ValueError:
        return "high"
    return PRIORITIES[min(i + 1, len(PRIORITIES) - 1)]


@dataclass(frozen=True)
class Actor:
    """Who acts: an id for the history and the roles that transitions are checked against."""

    id: str | None
    roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, actor_id: str | None, *roles: str) -> Actor:
        """``Actor.of("u1", "agent", "值班长")``."""
        return cls(actor_id, frozenset(roles))


#: The engine itself (timers, automatic transitions).
SYSTEM = Actor("system", frozenset({"system"}))


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a ticket, as the ``ticket_events`` table stores it.

    ``action`` is one of ``created transition assigned updated sla_started sla_stopped
    sla_warning sla_breached escalated priority_raised followup_scheduled followup_due
    followup_done``; ``changes`` maps a field to ``(old, new)``.
    """

    at: dt.datetime
    action: str
    actor: str | None
    from_state: str | None = None
    to_state: str | None = None
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    comment: str | None = None


@dataclass(frozen=True)
class SlaClock:
    """A running (or stopped) SLA timer; all times are computed on the SLA's calendar.

    ``fired`` holds the marks already acted on (``warn``, ``breach``, ``escalate:N``), so
    each escalation happens once however often the host ticks.
    """

    sla: str
    calendar: str
    started_at: dt.datetime
    due_at: dt.datetime
    warn_at: dt.datetime | None = None
    escalate_at: tuple[dt.datetime, ...] = ()
    stopped_at: dt.datetime | None = None
    fired: frozenset[str] = frozenset()

    @property
    def running(self) -> bool:
        """Not stopped yet."""
        return self.stopped_at is None

    def overdue(self, now: dt.datetime) -> bool:
        """Past its due time at ``now`` (or when it stopped, for a stopped clock)."""
        end = self.stopped_at or now
        return end > self.due_at


@dataclass(frozen=True)
class FollowupTask:
    """A scheduled follow-up visit (回访): an outbound task due at ``due_at``."""

    followup: str
    due_at: dt.datetime
    form: str | None = None
    target: str | None = None
    done: bool = False
    due_fired: bool = False


@dataclass(frozen=True)
class Ticket:
    """A work order as the engine sees it. ``fields`` are the form values; ``assignee`` is a
    department or team, ``agent`` a person."""

    id: str
    workflow: str
    state: str
    fields: Mapping[str, Any]
    created_at: dt.datetime
    state_since: dt.datetime
    priority: str = "normal"
    assignee: str | None = None
    agent: str | None = None
    slas: tuple[SlaClock, ...] = ()
    followups: tuple[FollowupTask, ...] = ()
    closed_at: dt.datetime | None = None
    history: tuple[HistoryEntry, ...] = ()

    def clock(self, sla_id: str) -> SlaClock | None:
        """The clock of SLA ``sla_id``, if it was started."""
        return next((c for c in self.slas if c.sla == sla_id), None)

    @property
    def response_due_at(self) -> dt.datetime | None:
        """Due time of the earliest-due running SLA (the next promise to keep)."""
        running = [c.due_at for c in self.slas if c.running]
        return min(running) if running else None

    @property
    def resolve_due_at(self) -> dt.datetime | None:
        """Due time of the latest-due running SLA (when the whole job must be done)."""
        running = [c.due_at for c in self.slas if c.running]
        return max(running) if running else None

    def variables(self) -> dict[str, Any]:
        """The ``ticket`` namespace for expressions and templates: form fields plus ``id``,
        ``workflow``, ``state``, ``priority``, ``assignee`` and ``agent`` (which win over
        fields of the same name)."""
        return {**self.fields, "id": self.id, "workflow": self.workflow, "state": self.state,
                "priority": self.priority, "assignee": self.assignee, "agent": self.agent}


# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Notify:
    """Tell ``targets`` (roles, teams or departments) about ``ticket_id``; ``reason`` is
    ``transition``, ``sla_warning``, ``sla_breached`` or ``escalated``."""

    ticket_id: str
    targets: tuple[str, ...]
    reason: str
    sla: str | None = None


@dataclass(frozen=True)
class Assign:
    """Route ``ticket_id`` to department/team ``target`` (or agent ``agent``)."""

    ticket_id: str
    target: str | None
    reason: str
    agent: str | None = None


@dataclass(frozen=True)
class RaisePriority:
    """The ticket's priority went from ``old`` to ``new``."""

    ticket_id: str
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class ScheduleFollowup:
    """Create an outbound follow-up task (回访) due at ``due_at``, recorded on ``form``; doing
    it moves the ticket to ``target``."""

    ticket_id: str
    followup: str
    due_at: dt.datetime
    form: str | None
    target: str | None


@dataclass(frozen=True)
class FollowupDue:
    """A scheduled follow-up reached its due time without being done."""

    ticket_id: str
    followup: str
    due_at: dt.datetime


@dataclass(frozen=True)
class FollowupDone:
    """The follow-up was done (the ticket reached its target or closed): drop the task."""

    ticket_id: str
    followup: str


@dataclass(frozen=True)
class Emit:
    """An event for the rules engine and the bus: ``ticket.created``, ``ticket.changed``,
    ``ticket.closed``, ``ticket.sla_warning``, ``ticket.sla_breached``, ``followup.due``."""

    event: str
    ticket_id: str
    data: Mapping[str, Any]


WorkflowAction = Notify | Assign | RaisePriority | ScheduleFollowup | FollowupDue | \
    FollowupDone | Emit


@dataclass(frozen=True)
class Step:
    """What one engine call produced: the new ticket, the actions for the host to carry out,
    the history entries added, and when the host should call ``tick`` next (None: never)."""

    ticket: Ticket
    actions: tuple[WorkflowAction, ...]
    history: tuple[HistoryEntry, ...]
    wake_at: dt.datetime | None
