"""The rules host: runs a tenant's rules on one stored event and carries out the actions.

:func:`handle_event` is the job (one per event, id ``rules-<event id>``). In one
transaction, together with its ``job_runs`` ledger row, it

1. closes the loop of a follow-up visit whose interaction ended handled (the ticket moves
   to the follow-up's target state, as the agent who made the call);
2. runs the rules engine on the event (with its causal chain) and, per firing, writes a
   ``rule_firings`` row (unique per event and rule) and carries out its actions:

   ======== ===============================================================================
   send     an outbound message, status ``queued``, on the named channel (see below)
   reply    the same, on the channel the message came in on, to its sender (REPLY_CHANNEL)
   faq      ``answer faq``: a reply whose text is the best knowledge-base article, when
            it scores at least the threshold (else nothing is sent; ``data.faq`` on the
            interaction records what was answered)
   notify   notifications for the role, team or department
   create   a ticket of the workflow, through the workflow engine
   assign   a routing request on the interaction (queue stored, ``routing.request``
            published) and, for a ticket this firing opened, its assignment
   callback an outbound voice interaction in the queue (``routing.request``) and a
            ``callback.requested`` event
   set      ``ticket.<field>`` through the workflow engine; ``customer.unsubscribed``
            into the customer's ``opt_outs`` (the event's channel); other names into
            the interaction's ``data.vars``
   tag      into the interaction's ``data.tags``
   webhook  an HTTP request from a job of its own (:mod:`.webhooks`)
   ======== ===============================================================================

3. marks the event handled, with the rules skipped to prevent a loop.

Outbound messages are stored for delivery (``messages``, direction outbound, status
``queued``, on the event's interaction when the channel matches, else on a new outbound
interaction with the customer) and announced on ``tenant.<id>.message.queued``; the channel
adapters send them and move them on to ``sent``/``delivered``/``failed``.

Events that carrying out an action causes (a ticket created or changed, a callback
requested) are stored with :meth:`~kefu.runtime.rules.RuleAction.derive`'s causal chain and
handled by jobs of their own, so no rule can re-trigger itself and chains stay short.

A repeated job finds its ledger row and does nothing; a second job for the same event finds
it handled; the unique (event, rule) key of ``rule_firings`` is the last line of defence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import kefu.platform.models  # noqa: F401 - every mapper configured in a worker process
from kefu.platform.agents.models import Agent
from kefu.platform.automation.configs import cache_for, deployed, rules_engine, workflow_engine
from kefu.platform.automation.effects import StepEffects, routing_topic
from kefu.platform.automation.events import (
    customer_data,
    interaction_data,
    record_event,
    ticket_data,
)
from kefu.platform.automation.models import (
    AutomationEvent,
    EventStatus,
    FiringStatus,
    RuleFiring,
)
from kefu.platform.automation.notify import notify
from kefu.platform.configs.cache import ConfigCache, LoadedConfig
from kefu.platform.customers.models import Customer
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.identity.members import MemberService
from kefu.platform.identity.models import Membership
from kefu.platform.interactions.models import (
    CHANNEL_OF_KIND,
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Message,
    MessageStatus,
)
from kefu.platform.jobs import JobAlreadyDone, JobContext, enqueue_after_commit, job
from kefu.platform.jobs.api import describe_error
from kefu.platform.messaging.outbound import announce
from kefu.platform.tenancy.scope import bind_tenant
from kefu.platform.tickets.models import Ticket
from kefu.platform.tickets.workflow import TicketWorkflow
from kefu.runtime.expressions import fill
from kefu.runtime.lifecycle import Outcome
from kefu.runtime.rules import Event, Firing, RuleAction
from kefu.runtime.rules.engine import REPLY_CHANNEL
from kefu.runtime.rules.expressions import Scope
from kefu.runtime.workflow import WorkflowError

if TYPE_CHECKING:
    from kefu.platform.events import EventBus
    from kefu.platform.jobs import JobQueue

log = logging.getLogger(__name__)

#: DSL channel names → the platform's channels.
CHANNELS = CHANNEL_OF_KIND
ENDED = ("call.ended", "chat.ended", "interaction.ended")
#: ``set customer.unsubscribed = true`` opts the customer out of the event's channel.
UNSUBSCRIBED = "customer.unsubscribed"


@job(retries=5, retry_delays=[2, 10, 60, 300, 900])
def handle_event(ctx: JobContext, tenant_id: str, event_id: str) -> dict[str, Any]:
    """Run the tenant's rules on a stored event, exactly once (see the module notes)."""
    tenant = uuid.UUID(tenant_id)
    configs = cache_for(ctx.session_factory) if ctx.session_factory else None
    if configs is None:
        raise RuntimeError("handle_event needs the database")
    try:
        with ctx.transaction() as db:
            bind_tenant(db, tenant)
            return RulesHost(db, configs, jobs=ctx.jobs, bus=ctx.events).handle(
                uuid.UUID(event_id))
    except JobAlreadyDone:
        raise
    except Exception as exc:
        if ctx.attempt >= ctx.max_attempts:
            _give_up(ctx, tenant, uuid.UUID(event_id), exc)
        raise


def _give_up(ctx: JobContext, tenant: uuid.UUID, event_id: uuid.UUID, exc: Exception) -> None:
    """The last attempt failed: mark the event failed (so the sweep stops queueing it and
    an operator can see why), nothing else of the attempt is kept."""
    log.error("rules job for event %s failed on every attempt: %s", event_id,
              describe_error(exc))
    with contextlib.suppress(Exception), ctx.session() as db, db.begin():
        bind_tenant(db, tenant)
        db.execute(sa.update(AutomationEvent)
                   .where(AutomationEvent.id == event_id,
                          AutomationEvent.status == EventStatus.PENDING)
                   .values(status=EventStatus.FAILED, error=describe_error(exc)[:4000],
                           handled_at=utcnow()))


class RulesHost:
    """Handles stored events of one tenant session (the caller commits)."""

    def __init__(self, db: Session, configs: ConfigCache, *, jobs: JobQueue | None = None,
                 bus: EventBus | None = None) -> None:
        self.db = db
        self.configs = configs
        self.jobs = jobs
        self.bus = bus

    def handle(self, event_id: uuid.UUID) -> dict[str, Any]:
        """Handle one event; returns a summary (rules fired, skipped)."""
        event = self.db.scalar(sa.select(AutomationEvent).where(AutomationEvent.id == event_id)
                               .with_for_update())
        if event is None:
            return {"event": str(event_id), "status": "unknown"}
        if event.status == EventStatus.DONE:
            return {"event": str(event_id), "status": "already handled"}
        loaded = deployed(self.db, self.configs)
        fired: list[str] = []
        if loaded is not None:
            if event.kind in ENDED:
                self._close_followup(event, loaded)
            dispatch = rules_engine(loaded).handle(Event(
                str(event.id), event.kind, dict(event.data or {}), event.at,
                tuple(event.chain or ()), event.depth))
            for firing in dispatch.firings:
                if self._fire(event, firing, loaded):
                    fired.append(firing.rule)
            event.skipped = [{"rule": s.rule, "reason": s.reason} for s in dispatch.skipped]
        event.status = EventStatus.DONE
        event.handled_at = utcnow()
        self.db.flush()
        return {"event": str(event.id), "kind": event.kind, "fired": fired,
                "skipped": list(event.skipped or [])}

    # ------------------------------------------------------------------ firings
    def _fire(self, event: AutomationEvent, firing: Firing, loaded: LoadedConfig) -> bool:
        exists = self.db.scalar(sa.select(RuleFiring.id).where(
            RuleFiring.event_id == event.id, RuleFiring.rule == firing.rule))
        if exists is not None:
            return False
        row = RuleFiring(
            rule=firing.rule, event_id=event.id, event_kind=event.kind,
            interaction_id=event.interaction_id, ticket_id=event.ticket_id,
            config_version_id=loaded.version_id,
            chain=[*(event.chain or []), firing.rule],
            actions=[action_data(a) for a in firing.actions], results=[],
            status=FiringStatus.DONE, at=firing.at)
        self.db.add(row)
        self.db.flush()
        run = _FiringRun(self, event, row, loaded)
        results = [run.perform(i, action) for i, action in enumerate(firing.actions)]
        row.results = results
        failed = sum(1 for r in results if not r.get("ok"))
        row.status = (FiringStatus.DONE if not failed else
                      FiringStatus.FAILED if failed == len(results) else FiringStatus.PARTIAL)
        self.db.flush()
        return True

    # ------------------------------------------------------------------ follow-ups
    def _close_followup(self, event: AutomationEvent, loaded: LoadedConfig) -> None:
        """A follow-up visit's interaction ended handled: the ticket moves to the follow-up's
        target state, as the agent who made the call (their roles are checked as usual)."""
        if event.interaction_id is None:
            return
        interaction = self.db.get(Interaction, event.interaction_id)
        followup = dict((interaction.data or {}).get("followup") or {}) if interaction else {}
        if interaction is None or not followup or followup.get("status") != "due":
            return
        if interaction.outcome != Outcome.HANDLED or not followup.get("target"):
            return
        ticket = self.db.scalar(sa.select(Ticket).where(
            Ticket.id == uuid.UUID(str(followup["ticket_id"]))).with_for_update())
        if ticket is None:
            return
        user_id, roles = self._agent_identity(interaction.agent_id)
        flow = TicketWorkflow(self.db, workflow_engine(loaded), effects=self.effects())
        try:
            flow.transition(ticket, str(followup["target"]), user_id, roles, utcnow())
            outcome: dict[str, Any] = {"ok": True, "state": ticket.state}
        except WorkflowError as exc:
            outcome = {"ok": False, "error": str(exc)}
        data = dict(interaction.data or {})
        data["followup"] = {**dict(data.get("followup") or {}), "closed": outcome}
        interaction.data = data

    def _agent_identity(self, agent_id: uuid.UUID | None) -> tuple[uuid.UUID | None,
                                                                     frozenset[str]]:
        if agent_id is None:
            return None, frozenset()
        agent = self.db.get(Agent, agent_id)
        if agent is None or agent.user_id is None:
            return None, frozenset()
        roles = self.db.scalars(sa.select(Membership.role)
                                .where(Membership.user_id == agent.user_id)).all()
        duty = MemberService(self.db).duty_roles(agent.user_id)
        return agent.user_id, frozenset(str(r) for r in roles) | frozenset(duty)

    def effects(self, chain: tuple[str, ...] = (), depth: int = 0) -> StepEffects:
        """Workflow step effects in this session; ``chain`` and ``depth`` for steps that a
        rule's action caused (the events they emit carry them)."""
        return StepEffects(self.db, jobs=self.jobs, bus=self.bus, chain=chain, depth=depth)


def action_data(action: RuleAction) -> dict[str, Any]:
    """A rule action as stored on its firing."""
    data = {"kind": action.kind, "channel": action.channel, "to": action.to,
            "text": action.text, "template": action.template, "target": action.target,
            "var": action.var, "value": action.value, "min_score": action.min_score}
    return {k: _json(v) for k, v in data.items() if v is not None}


def _json(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return str(value)


class _FiringRun:
    """Carries out the actions of one firing, in order, keeping what earlier ones made (a
    ticket opened by ``create``) for the templates and targets of later ones."""

    def __init__(self, host: RulesHost, event: AutomationEvent, row: RuleFiring,
                 loaded: LoadedConfig) -> None:
        self.host = host
        self.db = host.db
        self.event = event
        self.row = row
        self.loaded = loaded
        self.config = loaded.config
        self.interaction = (self.db.get(Interaction, event.interaction_id)
                            if event.interaction_id is not None else None)
        self.ticket = (self.db.get(Ticket, event.ticket_id)
                       if event.ticket_id is not None else None)
        self.created: Ticket | None = None
        self.variables: dict[str, Any] = {}

    def perform(self, index: int, action: RuleAction) -> dict[str, Any]:
        handler = getattr(self, f"_{action.kind}", None)
        if handler is None:
            return {"kind": action.kind, "ok": False, "error": "unknown action"}
        try:
            result = handler(index, action)
        except WorkflowError as exc:
            result = {"ok": False, "error": str(exc)}
        return {"kind": action.kind, **result}

    # ------------------------------------------------------------------ helpers
    def _text(self, action: RuleAction) -> str:
        """The action's text, filled again when an earlier action made new values."""
        if self.variables and action.raw:
            scope = Scope({**dict(self.event.data or {}), **self.variables,
                           "event": {"id": str(self.event.id), "kind": self.event.kind}},
                          self.event.at, self.config)
            return fill(action.raw, scope)
        return action.text or ""

    def _customer_id(self) -> uuid.UUID | None:
        for source in (self.interaction, self.created, self.ticket):
            if source is not None and source.customer_id is not None:
                return source.customer_id
        return None

    def _flow(self, action: RuleAction) -> TicketWorkflow:
        # Events the steps emit were caused by this action: derive's chain and depth.
        effects = self.host.effects(tuple(action.chain), action.depth + 1)
        return TicketWorkflow(self.db, workflow_engine(self.loaded), effects=effects)

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        if self.host.bus is not None:
            publish_after_commit(self.db, self.host.bus, topic, data)

    def _outbound_interaction(self, channel: Channel, to: str | None,
                              **data: Any) -> Interaction:
        interaction = Interaction(
            channel=channel, direction=Direction.OUTBOUND, state=InteractionState.CREATED,
            customer_id=self._customer_id(), to_address=to,
            config_version_id=self.loaded.version_id,
            data={"automation": {"rule": self.row.rule, "firing_id": str(self.row.id)},
                  **data})
        self.db.add(interaction)
        self.db.flush()
        return interaction

    # ------------------------------------------------------------------ actions
    def _send(self, index: int, action: RuleAction) -> dict[str, Any]:
        channel = CHANNELS.get(action.channel or "")
        if action.kind != "send" and self.event.kind not in REPLY_CHANNEL \
                and self.interaction is not None:
            # A reply to an event the engine has no channel for (a voicemail): answer on
            # the contact's own channel, by SMS for a call.
            own = self.interaction.channel
            channel = Channel.SMS if own == Channel.VOICE else own
        if channel is None:
            return {"ok": False, "error": f"no channel {action.channel!r}"}
        to = None if action.to in (None, "") else str(action.to)
        if to is None:
            return {"ok": False, "error": "no address to send to"}
        inbound: Message | None = None
        if self.interaction is not None and self.interaction.channel == channel:
            interaction = self.interaction
            inbound = self.db.scalar(
                sa.select(Message).where(Message.interaction_id == interaction.id,
                                         Message.direction == Direction.INBOUND)
                .order_by(Message.created_at.desc()).limit(1))
        else:
            interaction = self._outbound_interaction(channel, to)
        sender = next((c.address for c in self.config.channels
                       if CHANNELS.get(c.kind) == channel), None)
        subject = None
        if channel == Channel.EMAIL:
            original = (inbound.subject if inbound is not None else None) or ""
            subject = (original if original.lower().startswith("re:")
                       else f"Re: {original}") if original else (action.template or None)
        message = Message(
            interaction_id=interaction.id, customer_id=interaction.customer_id,
            channel=channel, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED,
            sender=sender, recipients=[to], subject=subject, body_text=self._text(action),
            in_reply_to=inbound.external_id if inbound is not None else None,
            headers={"X-Kefu-Rule": self.row.rule, "X-Kefu-Firing": str(self.row.id)})
        self.db.add(message)
        self.db.flush()
        announce(self.db, self.host.bus, message, rule=self.row.rule)
        return {"ok": True, "message_id": str(message.id),
                "interaction_id": str(interaction.id), "channel": channel.value, "to": to}

    _reply = _send

    def _faq(self, index: int, action: RuleAction) -> dict[str, Any]:
        """``answer faq``: reply with the knowledge-base article whose question the message
        asks, when it scores at least the threshold; otherwise send nothing (the message
        waits in its queue for an agent as usual)."""
        if action.text is not None:  # an engine with a faq port answered already
            return self._send(index, action)
        from kefu.platform.knowledge.services import DEFAULT_FAQ_MIN_SCORE, KnowledgeService

        min_score = action.min_score if action.min_score is not None else DEFAULT_FAQ_MIN_SCORE
        answer, best = KnowledgeService(self.db).best_answer(str(action.value or ""),
                                                             min_score=min_score)
        if answer is None:
            return {"ok": True, "answered": False, "min_score": min_score,
                    "best_score": best.score if best else None,
                    "best_article_id": str(best.article.id) if best else None}
        article = answer.article
        result = self._send(index, dataclasses.replace(
            action, text=f"{article.title}\n\n{article.body}", raw=None))
        found = {"answered": True, "article_id": str(article.id), "title": article.title,
                 "score": answer.score, "min_score": min_score}
        if result.get("ok") and self.interaction is not None:
            # The agent who picks the conversation up sees what was already answered.
            data = dict(self.interaction.data or {})
            data["faq"] = {**found, "message_id": result.get("message_id"),
                           "rule": self.row.rule}
            self.interaction.data = data
        return {**result, **found}

    def _notify(self, index: int, action: RuleAction) -> dict[str, Any]:
        if not action.target:
            return {"ok": False, "error": "nobody to notify"}
        ticket = self.created or self.ticket
        rows = notify(self.db, [action.target], "rule", self._text(action), config=self.config,
                      bus=self.host.bus, ticket_id=ticket.id if ticket else None,
                      interaction_id=self.event.interaction_id, rule_firing_id=self.row.id,
                      data={"rule": self.row.rule, "event": self.event.kind})
        return {"ok": True, "notifications": [str(r.id) for r in rows]}

    def _create(self, index: int, action: RuleAction) -> dict[str, Any]:
        flow = self._flow(action)
        if not action.target or not flow.has(action.target):
            return {"ok": False, "error": f"no workflow {action.target!r}"}
        data = dict(self.event.data or {})
        message = dict(data.get("message") or {})
        text = str(message.get("text") or "")
        subject = (message.get("subject") or text.split("\n", 1)[0][:200]
                   or f"{action.target} ({self.event.kind})")
        fields = {"type": action.target, "subject": str(subject)[:500],
                  "description": text[:20000], "customer_id": self._customer_id(),
                  "interaction_id": self.event.interaction_id,
                  "data": _prefill(self.config, action.target, data)}
        ticket = flow.create(fields, None, frozenset(), utcnow())
        self.created = ticket
        self.variables["ticket"] = ticket_data(ticket)
        return {"ok": True, "ticket_id": str(ticket.id), "number": ticket.number}

    def _assign(self, index: int, action: RuleAction) -> dict[str, Any]:
        target = action.target
        if not target:
            return {"ok": False, "error": "no team or department to assign to"}
        result: dict[str, Any] = {"ok": False}
        if self.interaction is not None:
            queue = _queue_for(self.config, target)
            data = dict(self.interaction.data or {})
            data["routing"] = {"kind": "assign", "target": target, "queue": queue,
                               "rule": self.row.rule, "requested_at": utcnow().isoformat()}
            self.interaction.data = data
            if queue is not None:
                self.interaction.queue = queue
            self._publish(routing_topic(self.row.tenant_id), {
                "interaction_id": str(self.interaction.id), "kind": "assign",
                "target": target, "queue": self.interaction.queue, "rule": self.row.rule})
            result.update(ok=True, interaction_id=str(self.interaction.id), queue=queue)
        ticket = self.created
        if ticket is not None:
            self._flow(action).assign(ticket, target, None, frozenset(), utcnow(),
                                      reason=f"rule {self.row.rule}")
            result.update(ok=True, ticket_id=str(ticket.id))
        if not result["ok"]:
            result["error"] = "no interaction or new ticket to assign"
        return result

    def _callback(self, index: int, action: RuleAction) -> dict[str, Any]:
        customer = customer_data(self.db, self._customer_id())
        number = (self.interaction.from_address if self.interaction is not None
                  and self.interaction.channel == Channel.VOICE else None) or customer.get("phone")
        task = self._outbound_interaction(Channel.VOICE, number,
                                          callback={"queue": action.target, "status": "due"})
        task.queue = action.target
        self._publish(routing_topic(self.row.tenant_id), {
            "interaction_id": str(task.id), "kind": "callback", "queue": action.target,
            "target": None, "rule": self.row.rule})
        derived = action.derive(str(uuid.uuid4()), "callback.requested", {}, utcnow())
        record_event(self.db, derived.kind,
                     {"callback": {"queue": action.target, "number": number},
                      "customer": customer, "interaction": interaction_data(task)},
                     at=derived.at, interaction_id=task.id, chain=derived.chain,
                     depth=derived.depth, jobs=self.host.jobs)
        return {"ok": True, "interaction_id": str(task.id), "queue": action.target}

    def _set(self, index: int, action: RuleAction) -> dict[str, Any]:
        var = action.var or ""
        if var == UNSUBSCRIBED:
            return self._unsubscribe(action)
        ticket = self.created or self.ticket
        if var.startswith("ticket.") and ticket is not None:
            field = var.removeprefix("ticket.")
            self._flow(action).update(ticket, {field: action.value}, None, frozenset(), utcnow())
            self.variables["ticket"] = ticket_data(ticket)
            return {"ok": True, "ticket_id": str(ticket.id), "var": var}
        if self.interaction is None:
            return {"ok": False, "error": f"nothing to set {var} on"}
        data = dict(self.interaction.data or {})
        data["vars"] = {**dict(data.get("vars") or {}), var: _json(action.value)}
        self.interaction.data = data
        return {"ok": True, "interaction_id": str(self.interaction.id), "var": var}

    def _unsubscribe(self, action: RuleAction) -> dict[str, Any]:
        """``set customer.unsubscribed = true|false``: the customer opts out of (or back
        into) the channel the event came on; the dispatcher then sends them nothing there
        but replies to their own messages."""
        customer_id = self._customer_id()
        customer = self.db.get(Customer, customer_id) if customer_id is not None else None
        if customer is None:
            return {"ok": False, "error": "no customer to (un)subscribe"}
        message = dict((self.event.data or {}).get("message") or {})
        channel = (self.interaction.channel if self.interaction is not None
                   else CHANNELS.get(str(message.get("channel") or "")))
        if channel is None:
            return {"ok": False, "error": "no channel to (un)subscribe from"}
        opt_outs = [c for c in (customer.opt_outs or []) if c != channel.value]
        if action.value:
            opt_outs.append(channel.value)
        customer.opt_outs = opt_outs  # a new list, so the JSON column is written
        return {"ok": True, "customer_id": str(customer.id), "var": UNSUBSCRIBED,
                "channel": channel.value, "unsubscribed": bool(action.value)}

    def _tag(self, index: int, action: RuleAction) -> dict[str, Any]:
        if self.interaction is None:
            return {"ok": False, "error": "no interaction to tag"}
        tag = str(action.value)
        data = dict(self.interaction.data or {})
        tags = list(data.get("tags") or [])
        if tag not in tags:
            tags.append(tag)
        data["tags"] = tags
        self.interaction.data = data
        return {"ok": True, "interaction_id": str(self.interaction.id), "tag": tag}

    def _webhook(self, index: int, action: RuleAction) -> dict[str, Any]:
        from kefu.platform.automation.webhooks import deliver_webhook

        http = next((h for h in self.config.https if h.id == action.target), None)
        if http is None:
            return {"ok": False, "error": f"no http lookup {action.target!r}"}
        if self.host.jobs is None:
            return {"ok": False, "error": "no job queue to deliver the webhook from"}
        job_id = f"webhook-{self.row.id}-{index}"
        enqueue_after_commit(self.db, self.host.jobs, deliver_webhook,
                             str(self.row.tenant_id), str(self.row.id), index,
                             job_id=job_id, retries=max(0, http.retries))
        return {"ok": True, "delivery": "queued", "job_id": job_id, "http": http.id}


def _queue_for(config: Any, target: str) -> str | None:
    """The queue a routing request for ``target`` goes to: the queue of that name, else the
    first queue served by that team."""
    queues = list(config.queues)
    if any(q.id == target for q in queues):
        return target
    return next((q.id for q in queues if target in q.teams), None)


_PREFILL = {"phone": ("customer.phone", "message.from", "caller.number"),
            "email": ("customer.email", "message.from"),
            "address": ("customer.address",),
            "account": ("customer.account_number",)}


def _prefill(config: Any, workflow: str, data: dict[str, Any]) -> dict[str, Any]:
    """Form fields of a rule-created ticket that the event already knows, by field type
    (the phone and address of the customer, their account number)."""
    wf = next((w for w in config.workflows if w.id == workflow), None)
    form = next((f for f in config.forms if wf is not None and f.id == wf.form), None)
    if form is None:
        return {}
    scope = Scope(data, utcnow(), None)
    out: dict[str, Any] = {}
    for field in form.fields:
        for path in _PREFILL.get(field.type, ()):
            value = scope.lookup(path)
            if value not in (None, ""):
                out[field.id] = value
                break
    return out


__all__ = ["CHANNELS", "RulesHost", "action_data", "handle_event"]

