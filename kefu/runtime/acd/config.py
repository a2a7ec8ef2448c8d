"""Router configuration: queues as the ACD sees them, built from the compiled IR.

:func:`build_router_config` turns ``ir.Config`` queues, teams and skills into
:class:`QueueConfig` objects; tests and ``simulate-load`` may build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir

STRATEGIES = ("round_robin", "longest_idle", "least_calls", "skills_based", "ring_all",
              "last_agent", "random")


@dataclass(frozen=True)
class Step:
    """After ``after`` seconds of waiting: ``relax`` skill to ``level``, ``overflow`` to
    ``queue``, or raise ``priority`` to ``priority``."""

    after: float
    action: str
    skill: str | None = None
    level: int | None = None
    queue: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class QueueConfig:
    """One queue.

    ``require`` maps skill → minimum level; ``prefer`` maps skill → (minimum level, weight);
    ``priorities`` and ``dedicated`` are (condition S-expression, priority / team) pairs tested
    against the contact's attributes; ``max_wait_outcome`` is ``voicemail`` or ``callback``;
    ``overflow_length``/``overflow_to`` send newcomers elsewhere when the queue is that long;
    ``aht`` is the initial average handle time for wait estimates (seconds).
    """

    id: str
    strategy: str = "longest_idle"
    require: dict[str, int] = field(default_factory=dict)
    prefer: dict[str, tuple[int, float]] = field(default_factory=dict)
    priorities: tuple[tuple[Any, int], ...] = ()
    dedicated: tuple[tuple[Any, str], ...] = ()
    steps: tuple[Step, ...] = ()
    max_wait: float | None = None
    max_wait_outcome: str = "voicemail"
    overflow_length: int | None = None
    overflow_to: str | None = None
    wrap_up: float = 0.0
    ring_timeout: float = 20.0
    teams: tuple[str, ...] = ()
    calendar: ir.Calendar | None = None
    aht: float = 180.0

    def loosest(self) -> dict[str, int]:
        """The requirements once every relax step has applied: the least an agent needs to
        ever take a contact of this queue."""
        req = dict(self.require)
        for s in self.steps:
            if s.action == "relax" and s.skill in req and s.level is not None:
                req[s.skill] = min(req[s.skill], s.level)
        return req

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"queue {self.id}: unknown strategy {self.strategy!r}")
        if self.max_wait_outcome not in ("voicemail", "callback"):
            raise ValueError(f"queue {self.id}: max_wait outcome must be voicemail or callback")


@dataclass(frozen=True)
class RouterConfig:
    """All queues of a tenant, by id; ``team_members`` maps team → agent ids (optional)."""

    queues: dict[str, QueueConfig]
    tenant: str = ""


def _level(req: ir.SkillReq) -> int:
    return req.level if req.level is not None else 1


def queue_from_ir(q: ir.Queue, calendars: dict[str, ir.Calendar], *,
                  ring_timeout: float = 20.0, max_wait_outcome: str = "voicemail") -> QueueConfig:
    """Build one :class:`QueueConfig` from an IR queue (preferred skills get weight 1)."""
    steps = []
    for s in sorted(q.steps, key=lambda s: s.after):
        steps.append(Step(after=float(s.after), action=s.action,
                          skill=s.skill.skill if s.skill else None,
                          level=_level(s.skill) if s.skill else None,
                          queue=s.queue, priority=s.priority))
    return QueueConfig(
        id=q.id, strategy=q.strategy,
        require={r.skill: _level(r) for r in q.require},
        prefer={r.skill: (_level(r), 1.0) for r in q.prefer},
        priorities=tuple((c.when, c.priority) for c in q.priorities if c.priority is not None),
        dedicated=tuple((c.when, c.team) for c in q.dedicated if c.team is not None),
        steps=tuple(steps),
        max_wait=float(q.max_wait) if q.max_wait is not None else None,
        max_wait_outcome=max_wait_outcome,
        wrap_up=float(q.wrap_up or 0),
        ring_timeout=ring_timeout,
        teams=q.teams,
        calendar=calendars.get(q.calendar) if q.calendar else None,
    )


def build_router_config(config: ir.Config, *, ring_timeout: float = 20.0) -> RouterConfig:
    """Turn a compiled tenant config into a :class:`RouterConfig`.

    Takes the IR ``Config``; returns every queue keyed by id. A queue without its own calendar
    uses the tenant calendar. Raises ``ValueError`` for an unknown strategy or an overflow step
    naming a queue that does not exist.
    """
    calendars = {c.id: c for c in config.calendars}
    queues: dict[str, QueueConfig] = {}
    for iq in config.queues:
        q = iq
        if q.calendar is None and config.tenant.calendar:
            q = ir.Queue(**{**iq.__dict__, "calendar": config.tenant.calendar})
        queues[q.id] = queue_from_ir(q, calendars, ring_timeout=ring_timeout)
    for qc in queues.values():
        for s in qc.steps:
            if s.action == "overflow" and s.queue not in queues:
                raise ValueError(f"queue {qc.id}: overflow to unknown queue {s.queue!r}")
    return RouterConfig(queues=queues, tenant=config.tenant.id)


def agents_from_teams(config: ir.Config, channel_capacity: dict[str, int] | None = None
                      ) -> list[Any]:
    """Synthesize agents from the IR teams (``members`` agents each, with the team's skills).

    Returns :class:`~kefu.runtime.acd.agent.AgentSpec` objects named ``<team>-<n>``; useful for
    ``simulate-load`` and demos when no real roster exists.
    """
    from kefu.runtime.acd.agent import AgentSpec

    capacity = channel_capacity or {"voice": 1}
    out = []
    for team in config.teams:
        skills = {s.skill: _level(s) for s in team.skills}
        for n in range(1, (team.members or 1) + 1):
            out.append(AgentSpec(id=f"{team.id}-{n}", skills=dict(skills),
                                 capacity=dict(capacity), teams=(team.id,)))
    return out
