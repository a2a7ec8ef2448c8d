"""The ACD router: a sans-I/O engine.

Inputs are method calls — contact and agent events — each with ``now``, a float number of
seconds on one clock shared by every process (POSIX time in production, any origin in
simulations and tests; calendars read it as POSIX time). Timers are inputs too: the host calls
:meth:`Router.tick` (about once a second) and the router fires ring-no-answer, wrap-up ends,
escalation steps and maximum waits that are due. Every call returns the list of
:class:`Action` s the host must carry out (ring an agent, play the voicemail prompt, ...).
There are no sockets, threads or sleeps here; state lives in a
:class:`~kefu.runtime.state.base.StateBackend`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from kefu.runtime.acd.agent import (
    AgentRecord,
    AgentSpec,
    AgentState,
    InvalidTransition,
    Trigger,
    next_state,
)
from kefu.runtime.acd.config import QueueConfig, RouterConfig
from kefu.runtime.state.base import Conflict, Contact, StateBackend
from kefu.runtime.state.memory import MemoryState

log = logging.getLogger(__name__)
S, T = AgentState, Trigger


@dataclass(frozen=True)
class Action:
    """Something the host must do; ``kind`` names it."""

    kind: str
    contact_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    detail: Any = None


def why_unavailable(rec: AgentRecord, channel: str) -> str | None:
    """Why the agent cannot be offered a ``channel`` contact now, or None if it can."""
    if rec.offered is not None or rec.state == S.OFFERED:
        return "another contact is ringing at the agent"
    if rec.state not in (S.READY, S.BUSY):
        return f"the agent is {rec.state.value}"
    if rec.spare(channel) <= 0:
        return f"the agent has no {channel} capacity left"
    return None


def _offer(c: Contact, agent_id: str, until: float) -> Action:
    return Action("offer", c.id, agent_id, c.queue, until)


class UnknownQueue(KeyError):
    """A contact names a queue the router was not configured with."""


class AgentUnavailable(Exception):
    """A directed offer to an agent who cannot take the contact now (not ready, logged out,
    ringing with another offer, or at capacity on the contact's channel)."""

    def __init__(self, agent_id: str, state: AgentState, why: str) -> None:
        super().__init__(f"agent {agent_id} cannot take it now: {why}")
        self.agent_id, self.state, self.why = agent_id, state, why


def evaluate(expr: Any, attrs: dict[str, Any]) -> Any:  # noqa: PLR0911 - one case per op
    """Evaluate a queue condition (IR S-expression) against a contact's attributes.

    ``("var", "caller.vip")`` reads ``attrs["caller.vip"]`` (or the nested
    ``attrs["caller"]["vip"]``); unknown variables are None. Returns the value; an unsupported
    operator raises ``ValueError``.
    """
    op = expr[0]
    if op == "var":
        if expr[1] in attrs:
            return attrs[expr[1]]
        cur: Any = attrs
        for part in expr[1].split("."):
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
        return cur
    if op in ("str", "num", "bool", "dur", "pct", "date", "time"):
        return expr[1]
    if op == "list":
        return [evaluate(e, attrs) for e in expr[1:]]
    if op == "not":
        return not evaluate(expr[1], attrs)
    if op == "and":
        return bool(evaluate(expr[1], attrs)) and bool(evaluate(expr[2], attrs))
    if op == "or":
        return bool(evaluate(expr[1], attrs)) or bool(evaluate(expr[2], attrs))
    left, right = evaluate(expr[1], attrs), evaluate(expr[2], attrs)
    try:
        ops = {"==": lambda: left == right, "!=": lambda: left != right,
               "<": lambda: left < right, "<=": lambda: left <= right,
               ">": lambda: left > right, ">=": lambda: left >= right,
               "in": lambda: left in (right or ())}
        fn = ops.get(op)
        if fn is None:
            raise ValueError(f"unsupported operator {op!r} in a queue condition")
        return fn()
    except TypeError:
        return False


def calendar_open(queue: QueueConfig, now: float) -> bool:
    """Is the queue's calendar open at POSIX time ``now``? (Always, without a calendar.)"""
    cal = queue.calendar
    if cal is None or cal.always:
        return True
    from kefu.runtime.calendar import open_at

    return open_at(cal, dt.datetime.fromtimestamp(now, tz=ZoneInfo(cal.timezone)))


class Router:
    """Routes contacts of one tenant's queues to agents.

    Takes a :class:`RouterConfig` and a state backend (a fresh :class:`MemoryState` if none).
    Several routers, in several processes, may share one Redis backend: assignment is atomic in
    the backend, so each router only ever proposes.
    """

    def __init__(self, config: RouterConfig, state: StateBackend | None = None, *,
                 seed: int = 0, scan: int = 5) -> None:
        self.config = config
        self.state: StateBackend = state if state is not None else MemoryState()
        self.scan = scan
        self._rng = random.Random(seed)  # noqa: S311 - routing spread, not security
        self._cursor: dict[str, str] = {}
        self._accepted: dict[str, float] = {}
        self._aht: dict[str, tuple[float, int]] = {}
        self._serves: dict[str, tuple[AgentSpec, list[str]]] = {}

    # ------------------------------------------------------------------ helpers
    def queue(self, queue_id: str) -> QueueConfig:
        """The queue's config. Raises :class:`UnknownQueue`."""
        try:
            return self.config.queues[queue_id]
        except KeyError:
            raise UnknownQueue(queue_id) from None

    def _change(self, rec: AgentRecord, trigger: Trigger, target: AgentState, now: float,
                reason: str | None = None) -> Action:
        expect = rec.state
        rec.state = next_state(rec.id, rec.state, trigger, target)
        rec.reason = reason if target == S.NOT_READY else None
        rec.since = now
        self.state.save_agent(rec, expect)
        return Action("agent", agent_id=rec.id, detail=(target.value, rec.reason))

    def requirements(self, q: QueueConfig, c: Contact) -> dict[str, int]:
        """Skill → minimum level for this contact now (relax steps applied); none for a
        contact transferred to one agent (the transferring agent chose who takes it)."""
        if c.agent is not None:
            return {}
        return {**q.require, **c.relaxed} if c.relaxed else q.require

    def eligible(self, q: QueueConfig, c: Contact, agents: Iterable[AgentRecord]
                 ) -> list[AgentRecord]:
        """The agents among ``agents`` whose skills and teams qualify for ``c`` in ``q``."""
        if c.agent is not None:
            return [a for a in agents if a.id == c.agent]
        req = self.requirements(q, c)
        out = []
        for a in agents:
            skills = a.spec.skills
            if any(skills.get(s, 0) < lvl for s, lvl in req.items()):
                continue
            if c.team is not None:
                if c.team not in a.spec.teams:
                    continue
            elif q.teams and not set(q.teams).intersection(a.spec.teams):
                continue
            out.append(a)
        return out

    def choose(self, q: QueueConfig, c: Contact, agents: list[AgentRecord]) -> AgentRecord:
        """Pick one of the (non-empty) eligible ``agents`` by the queue's strategy."""
        strategy = q.strategy
        if strategy == "last_agent" and c.customer is not None:
            last = self.state.last_agent(c.customer)
            for a in agents:
                if a.id == last:
                    return a
        if strategy == "least_calls":
            return min(agents, key=lambda a: (a.handled_today, a.idle_since, a.id))
        if strategy == "round_robin":
            cursor = self._cursor.get(q.id, "")
            ordered = sorted(agents, key=lambda a: a.id)
            pick = next((a for a in ordered if a.id > cursor), ordered[0])
            self._cursor[q.id] = pick.id
            return pick
        if strategy == "skills_based" and q.prefer:
            def score(a: AgentRecord) -> tuple[float, float, str]:
                got = sum(w for s, (lvl, w) in q.prefer.items()
                          if a.spec.skills.get(s, 0) >= lvl)
                return (-got, a.idle_since, a.id)
            return min(agents, key=score)
        if strategy == "random":
            return self._rng.choice(sorted(agents, key=lambda a: a.id))
        # longest_idle, ring_all, and the fall-backs of last_agent / skills_based
        return min(agents, key=lambda a: (a.idle_since, a.id))

    # ------------------------------------------------------------------ agents
    def add_agent(self, spec: AgentSpec, now: float) -> AgentRecord:
        """Register an agent (logged out) or update its skills; returns its record."""
        return self.state.put_agent(spec, now)

    def login(self, agent_id: str, now: float) -> list[Action]:
        """Log an agent in: it starts not ready (reason ``login``). Raises
        :class:`InvalidTransition` if already logged in, ``KeyError`` if unknown."""
        rec = self.state.get_agent(agent_id)
        return [self._change(rec, T.LOGIN, S.NOT_READY, now, "login")]

    def ready(self, agent_id: str, now: float) -> list[Action]:
        """Make an agent ready (from not ready or wrap-up) and route to it."""
        rec = self.state.get_agent(agent_id)
        target = S.BUSY if rec.holding() and rec.state == S.NOT_READY else S.READY
        if target == S.READY:
            rec.idle_since = now
        acts = [self._change(rec, T.READY, target, now)]
        return acts + self.serve(agent_id, now)

    def not_ready(self, agent_id: str, reason: str, now: float) -> list[Action]:
        """Put an agent not ready with a reason code; contacts it holds go on."""
        rec = self.state.get_agent(agent_id)
        return [self._change(rec, T.NOT_READY, S.NOT_READY, now, reason)]

    def logout(self, agent_id: str, now: float) -> list[Action]:
        """Log an agent out. Raises :class:`InvalidTransition` while it holds contacts."""
        rec = self.state.get_agent(agent_id)
        if rec.holding():
            raise InvalidTransition(agent_id, rec.state, T.LOGOUT)
        return [self._change(rec, T.LOGOUT, S.LOGGED_OUT, now)]

    def accept(self, contact_id: str, now: float) -> list[Action]:
        """The agent answered the offer: it becomes busy. Raises ``KeyError`` if the contact is
        not offered to anyone (e.g. it was already re-queued by RONA)."""
        c = self.state.get_contact(contact_id)
        for _ in range(10):  # a concurrent end of another contact may save first: re-read
            agent_id = self.state.assigned(contact_id)
            rec = self.state.get_agent(agent_id) if agent_id else None
            if rec is None or rec.offered != contact_id:
                raise KeyError(f"contact {contact_id} is not being offered")
            rec.offered = None
            rec.handled_today += 1
            try:
                act = self._change(rec, T.ACCEPT, S.BUSY, now)
            except Conflict:
                continue
            if c is not None and c.customer:
                self.state.set_last_agent(c.customer, rec.id)
            self._accepted[contact_id] = now
            return [Action("connected", contact_id, rec.id, c.queue if c else None, now), act]
        raise Conflict(f"agent for contact {contact_id} kept changing")

    def reject(self, contact_id: str, now: float) -> list[Action]:
        """The agent declined the offer: the contact goes back to the head of its queue and
        the agent stays available. Raises ``KeyError`` if the contact is not being offered."""
        return self._return_offer(contact_id, now, T.REJECT)

    def _return_offer(self, contact_id: str, now: float, trigger: Trigger) -> list[Action]:
        agent_id = self.state.assigned(contact_id)
        rec = self.state.get_agent(agent_id) if agent_id else None
        if rec is None or rec.offered != contact_id:
            raise KeyError(f"contact {contact_id} is not being offered")
        c = self.state.get_contact(contact_id)
        assert c is not None
        self.state.unassign(contact_id)
        if c.agent is not None:
            # A transfer to one agent that was not answered: the contact goes on to
            # whoever its queue offers it to next.
            c = c.clone()
            c.agent = None
        rec = self.state.get_agent(rec.id)
        if trigger == T.RONA:
            act = self._change(rec, T.RONA, S.NOT_READY, now, "rona")
        else:
            act = self._change(rec, T.REJECT, S.BUSY if rec.holding() else S.READY, now)
        self.state.enqueue(c, head=True)
        acts = [Action("requeued", c.id, rec.id, c.queue, trigger.value), act]
        if trigger == T.REJECT:  # give the contact to someone else, not back to the rejecter
            offer = self.route(c, now, exclude=rec.id)
            if offer is not None:
                acts.append(offer)
        return acts

    def end(self, contact_id: str, now: float, wrap_up: float | None = None, *,
            serve: bool = True) -> list[Action]:
        """A connected contact ended: free the agent's capacity; the agent goes to wrap-up for
        the queue's ``wrap_up`` seconds (or ``wrap_up`` given here), or straight back to ready.
        Returns the actions, including a new offer for the agent unless ``serve`` is False
        (then the host calls :meth:`serve` itself). Raises ``KeyError`` if not assigned."""
        done = self.state.finish(contact_id)
        if done is None:
            raise KeyError(f"contact {contact_id} is not assigned")
        c, fresh = done
        agent_id = fresh.id
        started = self._accepted.pop(contact_id, None)
        if started is not None:
            total, n = self._aht.get(c.queue, (0.0, 0))
            self._aht[c.queue] = (total + (now - started), n + 1)
        acts = [Action("ended", contact_id, agent_id, c.queue)]
        wrap = self.queue(c.queue).wrap_up if wrap_up is None else wrap_up
        rec: AgentRecord | None = fresh
        for _ in range(10):  # another process may change the agent meanwhile: re-read
            rec = rec or self.state.get_agent(agent_id)
            try:
                if rec.state in (S.NOT_READY, S.OFFERED):
                    acts.append(self._change(rec, T.END, rec.state, now, rec.reason))
                    return acts
                if rec.state != S.BUSY:  # already settled by a concurrent end
                    break
                if rec.holding():
                    acts.append(self._change(rec, T.END, S.BUSY, now))
                elif wrap > 0:
                    rec.until = now + wrap
                    acts.append(self._change(rec, T.END, S.WRAP_UP, now))
                else:
                    rec.idle_since = now
                    acts.append(self._change(rec, T.END, S.READY, now))
                break
            except Conflict:
                rec = None
                continue
        return acts + self.serve(agent_id, now, rec) if serve else acts

    # ------------------------------------------------------------------ contacts
    def enqueue(self, contact: Contact, now: float) -> list[Action]:
        """Queue a new contact and route what can be routed.

        Applies the queue's priority and dedicated-team conditions to ``contact.attrs``; a
        closed calendar returns a ``closed`` action and queues nothing; a queue at its
        ``overflow_length`` sends the contact to ``overflow_to``. Raises :class:`UnknownQueue`.
        """
        q = self.queue(contact.queue)
        c = contact.clone()
        if not calendar_open(q, now):
            return [Action("closed", c.id, queue=q.id)]
        acts: list[Action] = []
        if (q.overflow_length is not None and q.overflow_to
                and self.state.queue_length(q.id) >= q.overflow_length):
            acts.append(Action("overflow", c.id, queue=q.overflow_to, detail=q.id))
            c.queue = q.overflow_to
            q = self.queue(q.overflow_to)
        self._apply_conditions(q, c)
        if not c.arrived:
            c.arrived = now
        c.queued_at, c.step = now, 0
        self.state.enqueue(c)
        acts.append(Action("queued", c.id, queue=c.queue))
        offer = self.route(c, now)
        if offer is not None:
            acts.append(offer)
        return acts

    def offer_to(self, contact: Contact, agent_id: str, now: float) -> list[Action]:
        """Offer a contact to one agent (a transfer to that agent): it rings there for the
        queue's ring timeout; ring-no-answer and reject then apply as for any offer, and the
        contact goes on in ``contact.queue`` to whoever is next. Skills do not apply — the
        transferring agent chose. Returns ``[queued, offer]``.

        Raises :class:`UnknownQueue`, ``KeyError`` for an unknown agent, and
        :class:`AgentUnavailable` (changing nothing) when the agent cannot take it now.
        """
        q = self.queue(contact.queue)
        rec = self.state.get_agent(agent_id)
        why = why_unavailable(rec, contact.channel)
        if why is not None:
            raise AgentUnavailable(agent_id, rec.state, why)
        c = contact.clone()
        c.agent = agent_id
        if not c.arrived:
            c.arrived = now
        c.queued_at, c.step = now, 0
        self.state.enqueue(c, head=True)
        if self.state.reserve(c.id, agent_id, now):
            return [Action("queued", c.id, queue=c.queue),
                    _offer(c, agent_id, now + q.ring_timeout)]
        # The agent changed in between (another offer won): nothing happened.
        self.state.remove(c.id)
        fresh = self.state.get_agent(agent_id)
        raise AgentUnavailable(agent_id, fresh.state, "the agent was just given another contact")

    def _apply_conditions(self, q: QueueConfig, c: Contact) -> None:
        for when, prio in q.priorities:
            if evaluate(when, c.attrs):
                c.priority = max(c.priority, prio)
        for when, team in q.dedicated:
            if evaluate(when, c.attrs):
                c.team = team
                break

    def abandon(self, contact_id: str, now: float) -> list[Action]:
        """The customer hung up while waiting (or while ringing an agent)."""
        c = self.state.remove(contact_id)
        if c is not None:
            return [Action("abandoned", contact_id, queue=c.queue, detail=now - c.arrived)]
        agent_id = self.state.assigned(contact_id)
        if agent_id is None:
            return []
        c = self.state.get_contact(contact_id)
        self.state.release(contact_id)
        rec = self.state.get_agent(agent_id)
        acts = [Action("abandoned", contact_id, agent_id, c.queue if c else None)]
        if rec.state == S.OFFERED and rec.offered is None:
            acts.append(self._change(rec, T.REJECT, S.BUSY if rec.holding() else S.READY, now))
        return acts + self.serve(agent_id, now)

    # ------------------------------------------------------------------ routing
    def route(self, c: Contact, now: float, exclude: str | None = None) -> Action | None:
        """Try to offer one queued contact to an agent (other than ``exclude``); returns the
        ``offer`` action or None."""
        q = self.config.queues[c.queue]
        req = self.requirements(q, c)
        for _ in range(3):  # another process may win the race for an agent: look again
            agents = [a for a in self.eligible(q, c, self.state.candidates(c.channel, list(req)))
                      if a.id != exclude]
            if not agents:
                return None
            pick = self.choose(q, c, agents)
            next_state(pick.id, pick.state, T.OFFER, S.OFFERED)
            if self.state.reserve(c.id, pick.id, now):
                return _offer(c, pick.id, now + q.ring_timeout)
            if self.state.get_contact(c.id) is None or self.state.assigned(c.id):
                return None
        return None

    def queues_for(self, spec: AgentSpec) -> list[str]:
        """Queues whose loosest requirements and teams the agent meets."""
        cached = self._serves.get(spec.id)
        if cached is not None and cached[0] == spec:
            return cached[1]
        out = []
        for q in self.config.queues.values():
            if any(spec.skills.get(s, 0) < lvl for s, lvl in q.loosest().items()):
                continue
            dedicated = {team for _, team in q.dedicated}
            teams = set(q.teams) | dedicated
            if q.teams and not teams.intersection(spec.teams):
                continue
            out.append(q.id)
        self._serves[spec.id] = (spec, out)
        return out

    def serve(self, agent_id: str, now: float, rec: AgentRecord | None = None
              ) -> list[Action]:
        """An agent became free: offer it the best contact it qualifies for — the highest
        priority, then the longest waiting, among the first ``scan`` of each of its queues.
        ``rec`` is the agent's record if the caller has just read it. Returns ``[offer]``
        or ``[]``."""
        for _ in range(3):  # another process may take the contact first: look again
            cached = self._serves.get(agent_id)
            if rec is None and cached is not None:  # agent and queue heads in one read
                rec, heads = self.state.agent_and_heads(agent_id, cached[1], self.scan)
                if rec.spec != cached[0]:
                    heads = self.state.heads(self.queues_for(rec.spec), self.scan)
            else:
                rec = rec or self.state.get_agent(agent_id)
                heads = self.state.heads(self.queues_for(rec.spec), self.scan)
            if rec.state not in (S.READY, S.BUSY) or rec.offered is not None:
                return []
            best: Contact | None = None
            for qid, contacts in heads.items():
                q = self.config.queues[qid]
                for c in contacts:
                    if rec.spare(c.channel) > 0 and self.eligible(q, c, (rec,)):
                        if best is None or (-c.priority, c.arrived) < (-best.priority,
                                                                       best.arrived):
                            best = c
                        break
            if best is None:
                return []
            next_state(rec.id, rec.state, T.OFFER, S.OFFERED)
            if self.state.reserve(best.id, rec.id, now):
                until = now + self.config.queues[best.queue].ring_timeout
                return [_offer(best, rec.id, until)]
            rec = None
        return []

    def dispatch(self, now: float) -> list[Action]:
        """Offer waiting contacts (up to ``scan`` per queue, head first) to free agents."""
        acts: list[Action] = []
        failed: set[tuple[str, str, tuple[tuple[str, int], ...], str | None, str | None]] = set()
        for qid in self.state.queue_ids():
            q = self.config.queues.get(qid)
            if q is None:
                continue
            for c in self.state.waiting(qid, self.scan):
                key = (qid, c.channel, tuple(sorted(self.requirements(q, c).items())), c.team,
                       c.agent)
                if key in failed:
                    continue
                offer = self.route(c, now)
                if offer is None:
                    failed.add(key)
                else:
                    acts.append(offer)
        return acts

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> list[Action]:
        """Fire the timers due at ``now``: RONA, wrap-up ends, escalation steps, max waits;
        then route. Returns the actions."""
        acts: list[Action] = []
        for rec in self.state.agents():
            try:
                if rec.state == S.OFFERED and rec.offered is not None:
                    c = self.state.get_contact(rec.offered)
                    q = self.config.queues.get(c.queue) if c else None
                    timeout = q.ring_timeout if q else 0.0
                    if now >= rec.offered_at + timeout:
                        acts += self._return_offer(rec.offered, now, T.RONA)
                elif rec.state == S.WRAP_UP and now >= rec.until:
                    rec.idle_since = now
                    acts.append(self._change(rec, T.WRAP_DONE, S.READY, now))
            except (KeyError, Conflict):
                # Another process answered, ended or timed out this agent meanwhile; what it
                # did is its to report, and the next tick sees the new state.
                continue
        for qid in self.state.queue_ids():
            for c in self.state.waiting(qid):
                acts += self._escalate(c, now)
        return acts + self.dispatch(now)

    def _escalate(self, c: Contact, now: float) -> list[Action]:
        acts: list[Action] = []
        q = self.config.queues.get(c.queue)
        if q is None:
            return acts
        changed = False
        while c.step < len(q.steps) and now - c.queued_at >= q.steps[c.step].after:
            step = q.steps[c.step]
            c.step += 1
            changed = True
            if step.action == "relax" and step.skill is not None and step.level is not None:
                c.relaxed[step.skill] = step.level
                acts.append(Action("relaxed", c.id, queue=q.id, detail=(step.skill, step.level)))
            elif step.action == "priority" and step.priority is not None:
                c.priority = max(c.priority, step.priority)
                acts.append(Action("priority", c.id, queue=q.id, detail=c.priority))
            elif step.action == "overflow" and step.queue is not None:
                acts.append(Action("overflow", c.id, queue=step.queue, detail=q.id))
                c.queue, c.queued_at, c.step, c.relaxed = step.queue, now, 0, {}
                q = self.queue(step.queue)
                self._apply_conditions(q, c)
        if q.max_wait is not None and now - c.arrived >= q.max_wait:
            if self.state.remove(c.id) is not None:
                acts.append(Action("max_wait", c.id, queue=q.id, detail=q.max_wait_outcome))
            return acts
        if changed:
            self.state.update_contact(c)
        return acts

    # ------------------------------------------------------------------ estimates
    def position(self, contact_id: str) -> int | None:
        """1-based place in queue, for announcements; None when not queued."""
        return self.state.position(contact_id)

    def average_handle_time(self, queue_id: str) -> float:
        """Mean handle time of contacts this router saw end in the queue (the configured
        ``aht`` until one has)."""
        total, n = self._aht.get(queue_id, (0.0, 0))
        return total / n if n else self.queue(queue_id).aht

    def expected_wait(self, contact_id: str) -> float | None:
        """Expected wait in seconds: position × AHT ÷ logged-in agents qualified for the queue
        (at least one). None when the contact is not queued."""
        c = self.state.get_contact(contact_id)
        pos = self.state.position(contact_id)
        if c is None or pos is None:
            return None
        q = self.queue(c.queue)
        staffed = [a for a in self.state.agents() if a.state != S.LOGGED_OUT]
        n = len(self.eligible(q, c, staffed))
        return pos * self.average_handle_time(q.id) / max(n, 1)

    def places(self, contact_ids: Iterable[str]) -> dict[str, tuple[int, float]]:
        """Position and expected wait (as :meth:`position` and :meth:`expected_wait`) of
        each queued contact among ``contact_ids``, read with one pass over each queue
        involved instead of several state reads per contact — for refreshing thousands of
        waiting chats at once."""
        wanted = set(contact_ids)
        if not wanted:
            return {}
        staffed = [a for a in self.state.agents() if a.state != S.LOGGED_OUT]
        out: dict[str, tuple[int, float]] = {}
        for queue_id in self.state.queue_ids():
            if queue_id not in self.config.queues:
                continue
            q = self.queue(queue_id)
            aht = self.average_handle_time(q.id)
            for pos, c in enumerate(self.state.waiting(queue_id), start=1):
                if c.id in wanted:
                    n = len(self.eligible(q, c, staffed))
                    out[c.id] = (pos, pos * aht / max(n, 1))
        return out
