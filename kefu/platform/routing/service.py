"""The platform side of the ACD: drive a tenant's router and carry out what it decides.

:class:`RoutingService` works in the caller's database session (a web request, a runtime
tick): each command calls the sans-I/O :class:`~kefu.runtime.acd.router.Router` under the
tenant's process lock, then carries out the returned actions in the database with the lock
released — interaction lifecycle transitions (persisted, published after commit), agent state
events, callback tasks. The router's state (queues, agents, assignments) is the truth about who
waits and who is free; the interaction rows are the truth about each contact's history, and
:meth:`RoutingService.resync` repairs any gap between the two (a process that died between
them, an embedded restart that lost the memory state).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.agents.models import DEFAULT_CAPACITY, Agent, AgentSkill
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.flows.service import notify_routing
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import Channel, Direction, Interaction
from kefu.runtime.acd.agent import AgentRecord, AgentSpec, AgentState, InvalidTransition
from kefu.runtime.acd.agent import Trigger as AgentTrigger
from kefu.runtime.acd.router import (
    Action,
    AgentUnavailable,
    Router,
    UnknownQueue,
    why_unavailable,
)
from kefu.runtime.lifecycle import InvalidTransition as InvalidLifecycle
from kefu.runtime.lifecycle import Outcome, State, Trigger
from kefu.runtime.state.base import Contact, Reclaimed

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

__all__ = ["AgentUnavailable", "NoRouting", "NotOffered", "RouteResult", "RoutingService",
           "UnknownQueue"]

#: Channels whose contact lives in the process that holds its media: when that process dies
#: the contact is gone with it (a call drops), so reclaiming it ends it instead of re-routing.
MEDIA_BOUND = frozenset({Channel.VOICE, Channel.FAX})
#: Router actions after which a queue holds other contacts than before.
QUEUE_CHANGES = frozenset({"queued", "offer", "requeued", "abandoned", "max_wait", "overflow"})
#: A contact in the ACD state whose interaction row is not found is only dropped once it is
#: this old, so a request that queued it but has not committed yet is not undone.
ORPHAN_GRACE_SECONDS = 60.0


class NoRouting(Exception):
    """The tenant has no deployed config, so it has no queues to route to."""

    def __init__(self) -> None:
        super().__init__("the tenant has no deployed config, so there are no queues; "
                         "deploy a config with queues first")


class NotOffered(Exception):
    """An accept or reject for a contact that is not ringing at that agent (any more)."""


@dataclass(frozen=True)
class RouteResult:
    """Where a contact stands after :meth:`RoutingService.enqueue`: ``queued`` (with its
    ``position`` and ``expected_wait`` in seconds), ``offered`` (ringing at ``agent_id``) or
    ``closed`` (the queue's hours are over; nothing was queued)."""

    status: str
    queue: str
    position: int | None = None
    expected_wait: float | None = None
    agent_id: uuid.UUID | None = None


def agent_spec(agent: Agent, skills: Iterable[AgentSkill]) -> AgentSpec:
    """The ACD's view of an agent row: skills, per-channel capacity, team and department."""
    capacity = {**DEFAULT_CAPACITY, **(agent.capacity or {})}
    teams = tuple(t for t in (agent.team, agent.department) if t)
    return AgentSpec(id=str(agent.id), skills={s.skill: s.level for s in skills},
                     capacity={k: int(v) for k, v in capacity.items()}, teams=teams)


def _posix(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


#: How many contacts at the head of a queue a ``queue.status`` event looks at.
STATUS_HEAD = 200


class RoutingService:
    """One tenant's ACD, driven in ``db`` (a session scoped to ``tenant_id``)."""

    def __init__(self, platform: Platform, db: Session, tenant_id: uuid.UUID, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock
        self.registry = platform.acd
        self.state = self.registry.state(tenant_id)
        self.lifecycle = InteractionLifecycle(db, platform.bus)

    # ------------------------------------------------------------------ plumbing
    def router(self) -> Router:
        """The router of the tenant's deployed config. Raises :class:`NoRouting`."""
        loaded = self.platform.configs.deployed(self.tenant_id)
        if loaded is None:
            raise NoRouting
        return self.registry.router(self.tenant_id, loaded)

    def queue_ids(self) -> list[str]:
        return sorted(self.router().config.queues)

    def _run(self, command: Callable[[Router, float], list[Action]]) -> list[Action]:
        router = self.router()
        now = self.clock()
        with self.registry.lock(self.tenant_id):
            acts = command(router, now)
        self._queues_changed({a.queue for a in acts if a.queue and a.kind in QUEUE_CHANGES}
                             | {a.detail for a in acts if a.kind == "overflow" and a.detail},
                             now)
        return acts

    def _queues_changed(self, queues: Iterable[str], now: float) -> None:
        """Announce the live figures of queues whose waiting contacts changed
        (``queue.status``), so wallboards follow without polling."""
        for queue in sorted(queues):
            # Bounded work per change, whatever the queue's length: the count is one read,
            # the longest wait comes from the head of the queue (exact unless more than
            # STATUS_HEAD contacts of higher priority wait ahead of an older one; GET
            # /wallboard always scans the whole queue).
            heads = self.state.waiting(queue, STATUS_HEAD)
            self._publish("queue.status", {
                "queue": queue, "waiting": self.state.queue_length(queue),
                "longest_wait_seconds": round(max((now - c.arrived for c in heads),
                                                  default=0.0), 1),
                "at": _iso(now)})

    def _publish(self, name: str, data: dict[str, Any]) -> None:
        publish_after_commit(self.db, self.platform.bus, f"tenant.{self.tenant_id}.{name}", data)

    def _interaction(self, contact_id: str | None) -> Interaction | None:
        if contact_id is None:
            return None
        try:
            key = uuid.UUID(contact_id)
        except ValueError:
            return None
        return self.db.get(Interaction, key, with_for_update=True)

    def _move(self, interaction: Interaction, trigger: Trigger, *,
              outcome: Outcome | None = None, **data: Any) -> bool:
        """Apply a lifecycle step the ACD already took; a row that moved on meanwhile (another
        process, a channel) is logged and left for :meth:`resync`, never raised."""
        try:
            self.lifecycle.apply(interaction, trigger, outcome=outcome,
                                 data={k: v for k, v in data.items() if v is not None})
        except InvalidLifecycle as exc:
            log.warning("interaction %s: ACD %s not recorded: %s", interaction.id,
                        trigger.value, exc)
            return False
        return True

    # ------------------------------------------------------------------ agents
    def sync_agent(self, agent: Agent) -> AgentRecord:
        """Tell the ACD the agent's current skills, capacity and teams (state is kept)."""
        skills = self.db.scalars(sa.select(AgentSkill).where(AgentSkill.agent_id == agent.id))
        spec = agent_spec(agent, skills)
        with self.registry.lock(self.tenant_id):
            return self.state.put_agent(spec, self.clock())

    def status(self, agent: Agent) -> AgentRecord | None:
        """The agent's live ACD record, or None if it never logged in here."""
        try:
            return self.state.get_agent(str(agent.id))
        except KeyError:
            return None

    def presence(self, agent: Agent, target: AgentState, reason: str | None = None
                 ) -> AgentRecord:
        """Log an agent in or out, or make it ready / not ready (with a reason code).

        Logging in from logged out, then going ready, happens in one call when ``target`` is
        ready. Raises :class:`InvalidTransition` (e.g. logging out while holding contacts).
        """
        rec = self.sync_agent(agent)
        key = str(agent.id)

        def command(router: Router, now: float) -> list[Action]:
            acts: list[Action] = []
            current = router.state.get_agent(key)
            if target is AgentState.LOGGED_OUT:
                if current.state is AgentState.LOGGED_OUT:
                    return acts
                return router.logout(key, now)
            if current.state is AgentState.LOGGED_OUT:
                acts += router.login(key, now)
            if target is AgentState.READY:
                return acts + router.ready(key, now)
            if target is AgentState.NOT_READY:
                return acts + router.not_ready(key, reason or "break", now)
            raise ValueError(f"an agent cannot set itself {target.value}")

        if not agent.is_active and target is not AgentState.LOGGED_OUT:
            raise InvalidTransition(key, rec.state, AgentTrigger.LOGIN)
        self.apply(self._run(command))
        return self.state.get_agent(key)

    # ------------------------------------------------------------------ contacts
    def enqueue(self, interaction: Interaction, queue: str, *, priority: int = 0,
                attrs: dict[str, Any] | None = None) -> RouteResult:
        """Queue an interaction (from created, in a flow, or transferred by its agent) and
        offer it to an agent if one is free. Raises :class:`UnknownQueue`, :class:`NoRouting`,
        :class:`InvalidLifecycle` when the interaction cannot be queued from its state."""
        trigger = (Trigger.TRANSFER_TO_QUEUE if interaction.state == State.CONNECTED
                   else Trigger.ENQUEUE)
        if interaction.state not in (State.CREATED, State.IN_FLOW, State.CONNECTED):
            raise InvalidLifecycle(f"cannot queue an interaction that is "
                                   f"{interaction.state.value}")
        router = self.router()
        router.queue(queue)  # UnknownQueue before anything changes
        contact = Contact(
            id=str(interaction.id), queue=queue, channel=interaction.channel.value,
            priority=priority,
            customer=str(interaction.customer_id) if interaction.customer_id else None,
            attrs=dict(attrs or {}))
        if trigger is Trigger.TRANSFER_TO_QUEUE:
            self._release_agent(interaction, transfer=True)
        acts = self._run(lambda r, now: r.enqueue(contact, now))
        if acts and acts[0].kind == "closed":
            self._publish("routing.closed", {"interaction_id": str(interaction.id),
                                             "queue": queue})
            return RouteResult("closed", queue)
        final = next(a.queue for a in acts if a.kind == "queued")
        overflowed = next((a.detail for a in acts if a.kind == "overflow"), None)
        self._move(interaction, trigger, queue=final, overflowed_from=overflowed)
        self.apply(a for a in acts if a.kind not in ("queued", "overflow"))
        return self.where(interaction)

    def where(self, interaction: Interaction) -> RouteResult:
        """The interaction's place: position and expected wait, or the agent it rings at."""
        key = str(interaction.id)
        router = self.router()
        agent = self.state.assigned(key)
        queue = interaction.queue or ""
        if agent is not None:
            return RouteResult("offered" if interaction.state == State.OFFERED else "connected",
                               queue, agent_id=uuid.UUID(agent))
        position = router.position(key)
        if position is None:
            return RouteResult("not_queued", queue)
        return RouteResult("queued", queue, position, router.expected_wait(key))

    def places(self, interaction_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[int, float]]:
        """Position and expected wait of each of these interactions that is queued (see
        :meth:`Router.places`). Raises :class:`NoRouting`."""
        found = self.router().places(str(i) for i in interaction_ids)
        return {uuid.UUID(key): place for key, place in found.items()}

    def _contact(self, interaction: Interaction, queue: str) -> Contact:
        return Contact(
            id=str(interaction.id), queue=queue, channel=interaction.channel.value,
            arrived=_posix(interaction.queued_at),
            customer=str(interaction.customer_id) if interaction.customer_id else None)

    def offer_to_agent(self, interaction: Interaction, target: Agent, queue: str) -> RouteResult:
        """Offer an interaction to one agent: a transfer of a connected one (its agent is
        released without wrap-up), or a supervisor's reassignment of a waiting one. It rings
        at ``target`` for ``queue``'s ring timeout; ring-no-answer and reject apply as to any
        offer, after which it waits in ``queue`` for whoever is next.

        Raises :class:`AgentUnavailable` (nothing changed) when the target cannot take it
        now, :class:`UnknownQueue`, :class:`NoRouting`, and :class:`InvalidLifecycle` unless
        the interaction is connected or queued.
        """
        state = interaction.state
        if state not in (State.CONNECTED, State.QUEUED):
            raise InvalidLifecycle(f"only a connected or waiting interaction can be offered "
                                   f"to an agent; this one is {state.value}")
        if interaction.agent_id == target.id and state == State.CONNECTED:
            raise InvalidLifecycle("the interaction is already with this agent")
        router = self.router()
        router.queue(queue)  # UnknownQueue before anything changes
        self.sync_agent(target)
        key = str(target.id)
        contact = self._contact(interaction, queue)
        waiting = self.state.get_contact(contact.id) if state == State.QUEUED else None
        if waiting is not None:
            contact = waiting
            contact.queue = queue
        rec = self.state.get_agent(key)
        why = why_unavailable(rec, contact.channel)
        if why is not None:
            raise AgentUnavailable(key, rec.state, why)
        if state == State.CONNECTED:
            self._release_agent(interaction, transfer=True)
        else:
            with self.registry.lock(self.tenant_id):
                self.state.remove(contact.id)
        try:
            acts = self._run(lambda r, now: r.offer_to(contact, key, now))
        except AgentUnavailable:
            if state == State.CONNECTED:  # lost a race for the agent: the queue takes it
                return self.enqueue(interaction, queue)
            with self.registry.lock(self.tenant_id):
                self.state.enqueue(contact, head=True)
            raise
        offer = next(a for a in acts if a.kind == "offer")
        if state == State.CONNECTED:
            self._move(interaction, Trigger.TRANSFER_TO_AGENT, queue=queue, agent_id=key,
                       ring_until=_iso(offer.detail))
        else:
            self._move(interaction, Trigger.OFFER, queue=queue, agent_id=key,
                       ring_until=_iso(offer.detail), reassigned=True)
        return RouteResult("offered", queue, agent_id=target.id)

    def to_flow(self, interaction: Interaction, flow: str) -> None:
        """The agent sends a connected interaction back into ``flow``: its agent is released
        without wrap-up and the interaction is in that flow (the caller starts it). Raises
        :class:`InvalidLifecycle` unless connected."""
        if interaction.state != State.CONNECTED:
            raise InvalidLifecycle(f"cannot transfer an interaction that is "
                                   f"{interaction.state.value} into a flow")
        self._release_agent(interaction, transfer=True)
        self._move(interaction, Trigger.TRANSFER_TO_FLOW, flow=flow)

    def take_over(self, interaction: Interaction, supervisor: Agent, queue: str) -> RouteResult:
        """A supervisor takes an interaction: it is offered to them and answered at once.
        Raises as :meth:`offer_to_agent`."""
        result = self.offer_to_agent(interaction, supervisor, queue)
        if result.status == "offered" and result.agent_id == supervisor.id:
            self.accept(interaction, supervisor)
            return RouteResult("connected", queue, agent_id=supervisor.id)
        return result

    def _offered_to(self, interaction: Interaction, agent: Agent | None) -> None:
        holder = self.state.assigned(str(interaction.id))
        rec = self.state.get_agent(holder) if holder else None
        if rec is None or rec.offered != str(interaction.id):
            raise NotOffered("this interaction is not ringing at any agent")
        if agent is not None and holder != str(agent.id):
            raise NotOffered("this interaction is offered to another agent")

    def accept(self, interaction: Interaction, agent: Agent | None = None) -> None:
        """The agent answers the offer. Raises :class:`NotOffered`."""
        self._offered_to(interaction, agent)
        try:
            acts = self._run(lambda r, now: r.accept(str(interaction.id), now))
        except KeyError:
            raise NotOffered("the offer ended before it was answered") from None
        self.apply(acts)

    def reject(self, interaction: Interaction, agent: Agent | None = None) -> None:
        """The agent declines: the contact goes back to the head of its queue and is offered
        to someone else. Raises :class:`NotOffered`."""
        self._offered_to(interaction, agent)
        try:
            acts = self._run(lambda r, now: r.reject(str(interaction.id), now))
        except KeyError:
            raise NotOffered("the offer ended before it was declined") from None
        self.apply(acts)

    def hang_up(self, interaction: Interaction, outcome: Outcome | None = None) -> None:
        """The contact ended (caller hung up, chat closed, agent finished the email).

        Waiting or ringing: abandoned. Connected: the agent goes to wrap-up (the interaction
        too) when the queue has wrap-up time, else the interaction ends handled. In a flow or
        just created: it ends with ``outcome`` (default abandoned).
        """
        key = str(interaction.id)
        state = interaction.state
        if state in (State.QUEUED, State.OFFERED):
            self.apply(self._run(lambda r, now: r.abandon(key, now)))
            self._move(interaction, Trigger.END, outcome=outcome or Outcome.ABANDONED)
        elif state == State.CONNECTED:
            wrapping = self._release_agent(interaction, transfer=False)
            if wrapping:
                self._move(interaction, Trigger.WRAP_UP)
            else:
                self._move(interaction, Trigger.END, outcome=outcome or Outcome.HANDLED)
        elif state in (State.CREATED, State.IN_FLOW):
            self._move(interaction, Trigger.END, outcome=outcome or Outcome.ABANDONED)
        elif state == State.WRAP_UP:
            self.complete(interaction)

    def complete(self, interaction: Interaction, disposition: str | None = None) -> None:
        """The agent finished after-contact work: record the disposition, end the
        interaction, and make the agent ready if it was in wrap-up for it."""
        if disposition is not None:
            interaction.disposition = disposition
        if interaction.state == State.CONNECTED:
            self.hang_up(interaction)
        if interaction.state != State.WRAP_UP:
            return
        self._move(interaction, Trigger.END, outcome=Outcome.HANDLED)
        if interaction.agent_id is None:
            return
        key = str(interaction.agent_id)
        try:
            rec = self.state.get_agent(key)
        except KeyError:
            return
        if rec.state is AgentState.WRAP_UP and not self._still_wrapping(interaction):
            self.apply(self._run(lambda r, now: r.ready(key, now)))

    def _still_wrapping(self, done: Interaction) -> bool:
        """Does the agent have other interactions in wrap-up besides ``done``?"""
        return self.db.scalar(sa.select(sa.func.count()).select_from(Interaction).where(
            Interaction.agent_id == done.agent_id, Interaction.state == State.WRAP_UP,
            Interaction.id != done.id)) != 0

    def _release_agent(self, interaction: Interaction, *, transfer: bool) -> bool:
        """Free the agent's capacity for a connected contact; True if the agent went into
        wrap-up because of it. A transfer skips wrap-up only when the agent holds nothing."""
        key = str(interaction.id)
        try:
            acts = self._run(lambda r, now: r.end(key, now, 0.0 if transfer else None))
        except KeyError:  # not known to the ACD (e.g. after an embedded restart)
            return False
        self.apply(acts)
        agent_id = next((a.agent_id for a in acts if a.kind == "ended"), None)
        return any(a.kind == "agent" and a.agent_id == agent_id
                   and a.detail[0] == AgentState.WRAP_UP.value for a in acts)

    # ------------------------------------------------------------------ timers
    def tick(self) -> list[Action]:
        """Fire the timers due now (RONA, wrap-up ends, escalations, max waits) and route
        what can be routed; returns the actions carried out."""
        acts = self._run(lambda r, now: r.tick(now))
        self.apply(acts)
        return acts

    # ------------------------------------------------------------------ actions
    def apply(self, actions: Iterable[Action]) -> None:
        """Carry out the router's actions in the database and on the bus."""
        for act in actions:
            handler = getattr(self, f"_on_{act.kind}", None)
            if handler is not None:
                handler(act)

    def _on_agent(self, act: Action) -> None:
        state, reason = act.detail
        self._publish("agent.state", {"agent_id": act.agent_id, "state": state,
                                      "reason": reason, "at": _iso(self.clock())})
        if state in (AgentState.READY.value, AgentState.NOT_READY.value,
                     AgentState.LOGGED_OUT.value) and act.agent_id:
            # Wrap-up is over (timer, or the agent went on): its interactions end handled.
            for interaction in self.db.scalars(sa.select(Interaction).where(
                    Interaction.agent_id == uuid.UUID(act.agent_id),
                    Interaction.state == State.WRAP_UP)):
                self._move(interaction, Trigger.END, outcome=Outcome.HANDLED)

    def _on_offer(self, act: Action) -> None:
        interaction = self._interaction(act.contact_id)
        if interaction is not None:
            self._move(interaction, Trigger.OFFER, agent_id=act.agent_id, queue=act.queue,
                       ring_until=_iso(act.detail))

    def _on_connected(self, act: Action) -> None:
        interaction = self._interaction(act.contact_id)
        if interaction is not None:
            self._move(interaction, Trigger.ANSWER, agent_id=act.agent_id)
            notify_routing(self.platform, self.db, self.tenant_id, interaction, "answered")

    def _on_requeued(self, act: Action) -> None:
        interaction = self._interaction(act.contact_id)
        if interaction is not None:
            self._move(interaction, Trigger.REQUEUE, reason=act.detail, agent=act.agent_id)

    def _on_overflow(self, act: Action) -> None:
        interaction = self._interaction(act.contact_id)
        if interaction is not None:
            interaction.queue = act.queue
        self._publish("routing.overflow", {"interaction_id": act.contact_id,
                                           "from": act.detail, "to": act.queue})

    def _on_relaxed(self, act: Action) -> None:
        skill, level = act.detail
        self._publish("routing.relaxed", {"interaction_id": act.contact_id, "queue": act.queue,
                                          "skill": skill, "level": level})

    def _on_priority(self, act: Action) -> None:
        self._publish("routing.priority", {"interaction_id": act.contact_id,
                                           "queue": act.queue, "priority": act.detail})

    def _on_max_wait(self, act: Action) -> None:
        """Waited too long. A call in a flow goes back to its flow for the voicemail prompt;
        anything else ends as voicemail, or as a callback that becomes an outbound task."""
        interaction = self._interaction(act.contact_id)
        self._publish("routing.max_wait", {"interaction_id": act.contact_id,
                                           "queue": act.queue, "then": act.detail})
        if interaction is None:
            return
        if notify_routing(self.platform, self.db, self.tenant_id, interaction, "max_wait"):
            return  # a text flow queued it: the flow takes the step's timeout exit
        if act.detail == "voicemail" and interaction.flow and interaction.channel == Channel.VOICE:
            self._move(interaction, Trigger.RETURN_TO_FLOW, reason="max_wait", then="voicemail")
            return
        outcome = Outcome.CALLBACK if act.detail == "callback" else Outcome.VOICEMAIL
        if self._move(interaction, Trigger.END, outcome=outcome) and outcome is Outcome.CALLBACK:
            self.callback(interaction, act.queue or interaction.queue or "")

    def callback(self, original: Interaction, queue: str) -> Interaction:
        """Create the outbound call-back task for ``original`` and queue it for agents."""
        task = Interaction(
            channel=Channel.VOICE, direction=Direction.OUTBOUND, state=State.CREATED,
            customer_id=original.customer_id, to_address=original.from_address,
            from_address=original.to_address, subject="callback",
            config_version_id=original.config_version_id,
            data={"callback_for": str(original.id)})
        self.db.add(task)
        self.db.flush()
        try:
            self.enqueue(task, queue)
        except UnknownQueue:
            log.warning("callback %s: queue %r is gone; left unqueued", task.id, queue)
        return task

    # ------------------------------------------------------------------ recovery
    def on_reclaimed(self, items: Iterable[Reclaimed]) -> None:
        """Contacts re-queued because the node holding them died: a text contact is offered
        again; a call or fax died with the node's media, so it ends (failed) instead."""
        for item in items:
            interaction = self._interaction(item.contact_id)
            if interaction is None:
                continue
            if interaction.channel in MEDIA_BOUND:
                with self.registry.lock(self.tenant_id):
                    self.state.remove(item.contact_id)
                self._move(interaction, Trigger.END, outcome=(
                    Outcome.ABANDONED if item.offered else Outcome.FAILED),
                    reason="node_lost", node=item.node)
            elif interaction.state == State.OFFERED:
                with self.registry.lock(self.tenant_id):
                    waiting = self.state.get_contact(item.contact_id)
                    if waiting is not None and waiting.agent is not None:
                        # A transfer to one agent whose node died: anyone may take it now.
                        waiting.agent = None
                        self.state.update_contact(waiting)
                self._move(interaction, Trigger.REQUEUE, reason="node_lost", node=item.node)
            elif interaction.state == State.CONNECTED:
                # An accepted chat or email stays with its agent: it is not re-routed.
                with self.registry.lock(self.tenant_id):
                    if self.state.remove(item.contact_id) is not None:
                        log.info("interaction %s stays with its agent after node %s died",
                                 interaction.id, item.node)

    def resync(self, limit: int = 500) -> int:
        """Repair differences between interaction rows and the ACD state; returns how many
        contacts were fixed. Rows queued or ringing that the state does not know (an embedded
        restart, a request that died between its two halves) are queued again — ringing ones
        at the head, as a ring-no-answer; state entries whose interaction ended are dropped."""
        fixed = 0
        now = self.clock()
        router = self.router()
        rows = self.db.scalars(sa.select(Interaction).where(
            Interaction.state.in_((State.QUEUED, State.OFFERED)))
            .order_by(Interaction.queued_at).limit(limit)).all()
        for interaction in rows:
            key = str(interaction.id)
            if (self.state.get_contact(key) is not None or self.state.assigned(key)
                    or interaction.queue not in router.config.queues):
                continue
            contact = Contact(
                id=key, queue=interaction.queue or "", channel=interaction.channel.value,
                arrived=_posix(interaction.queued_at), queued_at=now,
                customer=str(interaction.customer_id) if interaction.customer_id else None)
            head = interaction.state == State.OFFERED
            with self.registry.lock(self.tenant_id):
                try:
                    self.state.enqueue(contact, head=head)
                except ValueError:  # queued by someone else meanwhile
                    continue
            if head:
                self._move(interaction, Trigger.REQUEUE, reason="resync")
            fixed += 1
        fixed += self._drop_finished(now)
        return fixed

    def _drop_finished(self, now: float) -> int:
        waiting = {c.id: c for q in self.state.queue_ids() for c in self.state.waiting(q)}
        assigned = self.state.assignments()
        ids = [uuid.UUID(k) for k in [*waiting, *assigned] if _is_uuid(k)]
        if not ids:
            return 0
        rows = {str(i.id): i for i in self.db.scalars(
            sa.select(Interaction).where(Interaction.id.in_(ids)))}
        dropped = 0
        for key in [*waiting, *assigned]:
            row = rows.get(key)
            if row is not None and row.state != State.ENDED:
                continue
            contact = waiting.get(key)
            if (row is None and contact is not None
                    and now - contact.queued_at < ORPHAN_GRACE_SECONDS):
                continue
            self.apply(self._run(functools.partial(_forget, key=key)))
            dropped += 1
        return dropped


def _forget(router: Router, now: float, *, key: str) -> list[Action]:
    """Take a finished contact out of the ACD wherever it is: waiting or ringing (abandoned),
    or held by an agent (ended, without wrap-up), freeing the agent for the next one."""
    agent = router.state.assigned(key)
    if agent is not None and router.state.get_agent(agent).offered != key:
        try:
            return router.end(key, now, 0.0)
        except KeyError:
            return []
    return router.abandon(key, now)


def _iso(posix: Any) -> str | None:
    if not isinstance(posix, int | float):
        return None
    return datetime.fromtimestamp(posix, tz=UTC).isoformat()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
