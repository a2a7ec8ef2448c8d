"""The flow host for text interactions: :class:`FlowHost` starts a tenant's flow for a web
chat, SMS, email or kiosk interaction, feeds it the customer's messages and performs what the
interpreter asks, keeping the session in ``flow_sessions`` between messages (each message may
reach another process). See ``docs/ivr.md``, "Running flows for text channels".

Everything happens in the caller's database session and transaction (a web request, a job,
the timer sweep); the caller commits. Messages for the customer are stored as outbound
``queued`` messages and announced on ``tenant.<id>.message.queued`` after the commit; HTTP
lookups are jobs queued after the commit.

Locks: the interaction row first, then its session row (``FOR UPDATE`` on PostgreSQL), the
order the ACD uses too, so a customer's message, a timer and an agent answering cannot
interleave on one session.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.dsl import ir
from kefu.platform.configs.cache import LoadedConfig
from kefu.platform.customers.models import Customer
from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.flows.lookups import perform_lookup, remember_platform
from kefu.platform.flows.models import FlowSession, FlowStatus
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import (
    CHANNEL_OF_KIND,
    DSL_KINDS,
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.jobs import enqueue_after_commit
from kefu.platform.messaging.outbound import announce
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.interpreter import Interpreter, InvalidEvent, IvrError
from kefu.runtime.ivr.interpreter import State as IvrState
from kefu.runtime.lifecycle import InvalidTransition, Outcome, State, Trigger

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

__all__ = [
    "TEXT_NO_INPUT_SECONDS", "FlowError", "FlowHost", "FlowRunning", "NoFlow", "NoSession",
    "Turn", "notify_routing",
]

#: The shortest no-input timeout of a text session, in seconds. Flows are written for
#: callers, who answer a prompt within seconds; people typing in a chat or an SMS take
#: longer, so a step's ``timeout`` below this is stretched to it on text channels.
TEXT_NO_INPUT_SECONDS = 120
#: A lookup's timer fires this long after the step's own timeout: the job enforces the
#: timeout itself and normally reports first; the timer covers a job that never ran.
LOOKUP_GRACE_SECONDS = 5
#: Actions and answers exchanged in one call before the host gives up (a flow looping
#: through results that answer at once).
MAX_EXCHANGES = 1_000
DUE_BATCH = 100
#: What a text channel shows for a ``play`` step that has no text of its own.
AUDIO_PLACEHOLDER = "[audio: {audio}]"

#: The interaction outcome of a flow that ended while the interaction was still in it.
#: ``answered`` (the ACD has it) and ``returned`` (the agent's side takes it back) end nothing.
OUTCOMES: dict[str, Outcome] = {
    "completed": Outcome.SELF_SERVICE,
    "transferred": Outcome.TRANSFERRED,
    "voicemail": Outcome.VOICEMAIL,
    "abandoned": Outcome.ABANDONED,
    "retries_exhausted": Outcome.ABANDONED,
    "timeout": Outcome.ABANDONED,
    "error": Outcome.FAILED,
}
_IN_ACD = (State.QUEUED, State.OFFERED, State.CONNECTED, State.WRAP_UP)


class FlowError(Exception):
    """The flow host cannot do what was asked."""


class NoFlow(FlowError):
    """No flow to run: nothing deployed, the channel names no flow, or the flow is unknown."""


class FlowRunning(FlowError):
    """The interaction already has a flow session."""


class NoSession(FlowError, LookupError):
    """The interaction (of this tenant) has no flow session."""


@dataclass
class Turn:
    """What one call of the host did: the session as saved and the messages for the
    customer it stored (oldest first)."""

    session: FlowSession
    messages: list[Message] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.session.status is FlowStatus.ENDED

    @property
    def outcome(self) -> str | None:
        return self.session.outcome


def _iso_map(timers: dict[str, dt.datetime]) -> dict[str, str]:
    return {name: due.isoformat() for name, due in timers.items()}


class FlowHost:
    """Runs one tenant's flows for text interactions in ``db`` (scoped to ``tenant_id``).

    Args:
        platform: the composition root (configs, bus, jobs, ACD).
        db: the caller's session; the caller commits.
        tenant_id: the tenant.
        clock: the time source (aware UTC).
    """

    def __init__(self, platform: Platform, db: Session, tenant_id: uuid.UUID, *,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.platform = platform
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock
        self.lifecycle = InteractionLifecycle(db, platform.bus)
        remember_platform(platform)

    # ------------------------------------------------------------------ queries
    def session(self, interaction: Interaction | uuid.UUID) -> FlowSession | None:
        """The interaction's flow session (of this tenant), running or ended, or None."""
        key = interaction if isinstance(interaction, uuid.UUID) else interaction.id
        return self.db.scalar(sa.select(FlowSession).where(FlowSession.interaction_id == key))

    # ------------------------------------------------------------------ commands
    def start(self, interaction: Interaction | uuid.UUID, flow_id: str | None = None,
              mode: a.Mode = a.Mode.TEXT, variables: dict[str, Any] | None = None) -> Turn:
        """Start a flow for a text interaction, on the config version the interaction
        started on if it has one, else on the tenant's deployed one.

        Args:
            interaction: the interaction (created, or already in a flow without a session,
                e.g. transferred into one by its agent).
            flow_id: the flow; default the one the config's channel declaration names for
                the interaction's channel and address.
            mode: ``Mode.TEXT`` (chat, SMS, email) or ``Mode.TOUCH`` (kiosk).
            variables: initial flow variables, over ``caller.number``, ``caller.vip`` and
                ``channel``.

        Returns:
            The turn: the session and the messages the flow showed first.

        Raises:
            ValueError: ``mode`` is voice (calls are hosted by the voice channel).
            NoSession: no such interaction for this tenant.
            NoFlow: nothing deployed, no flow for the channel, or an unknown flow.
            FlowRunning: the interaction already has a flow session.
            FlowError: the interaction is past its flow (queued, with an agent, ended).
        """
        if mode is a.Mode.VOICE:
            raise ValueError("FlowHost runs text and touch flows; calls run in the voice channel")
        row = self._lock_interaction(interaction)
        if self.session(row.id) is not None:
            raise FlowRunning(f"interaction {row.id} already has a flow session")
        if row.state not in (State.CREATED, State.IN_FLOW):
            raise FlowError(f"cannot start a flow for an interaction that is {row.state.value}")
        loaded = self._version(row)
        declared = self._channel(loaded.config, row)
        flow_id = flow_id or (declared.flow if declared is not None else None)
        if not flow_id:
            raise NoFlow(f"no flow is declared for {DSL_KINDS[row.channel]} "
                         f"{row.to_address or ''}".rstrip())
        try:
            interpreter = Interpreter(loaded.config, flow_id, mode=mode,
                                      locale=declared.locale if declared else None)
        except IvrError as exc:
            raise NoFlow(str(exc)) from None
        row.config_version_id = loaded.version_id
        if row.state == State.CREATED:
            self.lifecycle.apply(row, Trigger.ENTER_FLOW,
                                 data={"flow": flow_id, "config_version": loaded.version})
        else:
            row.flow = flow_id
        session = FlowSession(interaction_id=row.id, config_version_id=loaded.version_id,
                              flow=flow_id, mode=mode, status=FlowStatus.RUNNING, snapshot={},
                              timers={}, data={})
        self.db.add(session)
        try:
            self.db.flush()
        except IntegrityError:
            # Started concurrently between the check and the insert (no savepoint: the
            # transaction is spent; the caller's retry finds the session).
            raise FlowRunning(f"interaction {row.id} already has a flow session") from None
        now = self.clock()
        run = _Run(self, session, row, loaded=loaded, interpreter=interpreter, now=now)
        run.perform(interpreter.start(now, variables=self._variables(row, variables)))
        run.save()
        return run.turn()

    def feed_text(self, interaction: Interaction | uuid.UUID, text: str) -> Turn:
        """The customer typed ``text`` (chat, SMS, email). A session that has ended (an agent
        has the conversation now) takes nothing: the turn shows no messages.

        Raises:
            NoSession: the interaction (of this tenant) has no flow session.
        """
        return self._feed(interaction, e.Text(text))

    def feed_touch(self, interaction: Interaction | uuid.UUID, choice: str) -> Turn:
        """The customer pressed the button ``choice`` (a choice key) or entered a value.

        Raises:
            NoSession: the interaction (of this tenant) has no flow session.
        """
        return self._feed(interaction, e.Touch(choice))

    def hang_up(self, interaction: Interaction | uuid.UUID) -> Turn:
        """The customer left (closed the chat, the kiosk session timed out): the flow ends
        ``abandoned``; a contact waiting in the ACD is abandoned there too.

        Raises:
            NoSession: the interaction (of this tenant) has no flow session.
        """
        turn = self._feed(interaction, e.CallerHungUp())
        row = self.db.get(Interaction, turn.session.interaction_id)
        if row is not None and row.state in _IN_ACD:
            from kefu.platform.routing.service import RoutingService

            RoutingService(self.platform, self.db, self.tenant_id).hang_up(row)
        return turn

    def due(self, now: dt.datetime | None = None, limit: int = DUE_BATCH) -> int:
        """Fire the timers of this tenant's sessions that are due at ``now`` (default: the
        clock): no-input re-prompts, lookup timeouts, the tenant's IVR time limit. Sessions
        another process holds right now are skipped (the next sweep takes them).

        Returns:
            How many sessions were advanced.
        """
        now = now or self.clock()
        ids = list(self.db.scalars(
            sa.select(FlowSession.id).where(FlowSession.status == FlowStatus.RUNNING,
                                            FlowSession.next_due_at <= now)
            .order_by(FlowSession.next_due_at).limit(limit)))
        return sum(1 for key in ids if self.fire(key, now))

    def fire(self, session_id: uuid.UUID, now: dt.datetime | None = None) -> bool:
        """Fire one session's due timers, unless another process holds it or its interaction
        (``SKIP LOCKED``) or nothing is due any more.

        Returns:
            True when the session was advanced.
        """
        now = now or self.clock()
        interaction_id = self.db.scalar(
            sa.select(FlowSession.interaction_id).where(FlowSession.id == session_id))
        if interaction_id is None:
            return False
        row = self.db.scalar(
            sa.select(Interaction).where(Interaction.id == interaction_id)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        if row is None:
            return False
        session = self.db.scalar(
            sa.select(FlowSession).where(FlowSession.id == session_id,
                                         FlowSession.status == FlowStatus.RUNNING,
                                         FlowSession.next_due_at <= now)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        if session is None:
            return False
        run = self._resume(session, row, now)
        run.fire_due()
        run.save()
        return True

    # ------------------------------------------------------------------ results
    def routing_result(self, interaction: Interaction, what: str) -> bool:
        """The ACD's answer to a flow's ``enqueue``: ``answered`` (an agent took it) or
        ``max_wait`` (it waited too long: back into the flow, which takes the step's
        ``timeout`` exit). ``interaction`` is locked by the caller.

        Returns:
            True when a session waiting in the queue took it; False when the interaction has
            no such session (the ACD then does what it does without a flow).
        """
        if what not in ("answered", "max_wait"):
            raise ValueError(f"unknown routing result {what!r}")
        session = self._lock_session(interaction.id)
        if session is None or session.status is not FlowStatus.RUNNING:
            return False
        if (session.snapshot or {}).get("state") != IvrState.QUEUED.value:
            return False
        now = self.clock()
        run = self._resume(session, interaction, now)
        if what == "answered":
            run.feed(e.AgentAnswered(str(interaction.agent_id or "")))
        else:
            if interaction.state != State.QUEUED:
                return False
            self.lifecycle.apply(interaction, Trigger.RETURN_TO_FLOW,
                                 data={"reason": "max_wait", "flow": session.flow})
            run.feed(e.QueueTimeout())
        run.save()
        return True

    def lookup_result(self, session_id: uuid.UUID, request_id: int, status: str,
                      record: dict[str, Any]) -> bool:
        """Feed a finished lookup to its session (from the lookup job).

        Returns:
            True when the session was waiting for this request and took the result.
        """
        interaction_id = self.db.scalar(
            sa.select(FlowSession.interaction_id).where(FlowSession.id == session_id))
        if interaction_id is None:
            return False
        row = self._lock_interaction(interaction_id)
        session = self._lock_session(interaction_id)
        if session is None or session.status is not FlowStatus.RUNNING:
            return False
        now = self.clock()
        run = self._resume(session, row, now)
        if run.interpreter.state is not IvrState.FETCHING:
            log.info("flow session %s: lookup %s answered after the session moved on",
                     session_id, request_id)
            return False
        run.feed(e.LookupResult(status, dict(record), request_id))
        run.save()
        return True

    # ------------------------------------------------------------------ internals
    def _feed(self, interaction: Interaction | uuid.UUID, event: e.Event) -> Turn:
        row = self._lock_interaction(interaction)
        session = self._lock_session(row.id)
        if session is None:
            raise NoSession(f"interaction {row.id} has no flow session")
        if session.status is not FlowStatus.RUNNING:
            return Turn(session)
        run = self._resume(session, row, self.clock())
        run.feed(event)
        run.save()
        return run.turn()

    def _lock_interaction(self, interaction: Interaction | uuid.UUID) -> Interaction:
        key = interaction if isinstance(interaction, uuid.UUID) else interaction.id
        row = self.db.scalar(sa.select(Interaction).where(Interaction.id == key)
                             .with_for_update().execution_options(populate_existing=True))
        if row is None:  # another tenant's is not found either
            raise NoSession(f"no interaction {key}")
        return row

    def _lock_session(self, interaction_id: uuid.UUID) -> FlowSession | None:
        return self.db.scalar(
            sa.select(FlowSession).where(FlowSession.interaction_id == interaction_id)
            .with_for_update().execution_options(populate_existing=True))

    def _resume(self, session: FlowSession, interaction: Interaction,
                now: dt.datetime) -> _Run:
        try:
            loaded = self.platform.configs.for_version(self.tenant_id,
                                                       session.config_version_id)
            interpreter = Interpreter.restore(loaded.config, dict(session.snapshot))
        except (LookupError, IvrError, ValueError) as exc:
            raise FlowError(f"flow session {session.id} cannot be resumed: {exc}") from exc
        return _Run(self, session, interaction, loaded=loaded, interpreter=interpreter, now=now)

    def _version(self, interaction: Interaction) -> LoadedConfig:
        """The version an interaction runs on: the one it started on, if it has one (e.g.
        transferred into a flow by its agent), else the deployed one."""
        if interaction.config_version_id is not None:
            try:
                return self.platform.configs.for_version(self.tenant_id,
                                                         interaction.config_version_id)
            except LookupError as exc:
                raise NoFlow(str(exc)) from None
        loaded = self.platform.configs.deployed(self.tenant_id)
        if loaded is None:
            raise NoFlow("the tenant has no deployed config")
        return loaded

    @staticmethod
    def _channel(config: ir.Config, interaction: Interaction) -> ir.Channel | None:
        """The channel declaration of the interaction: its kind and the address it reached,
        else the first declaration of its kind with a flow."""
        kind = DSL_KINDS[interaction.channel]
        ofkind = [c for c in config.channels if c.kind == kind]
        exact = next((c for c in ofkind if c.address == interaction.to_address), None)
        return exact or next((c for c in ofkind if c.flow), None)

    def _variables(self, interaction: Interaction,
                   extra: dict[str, Any] | None) -> dict[str, Any]:
        customer = (self.db.get(Customer, interaction.customer_id)
                    if interaction.customer_id is not None else None)
        caller = {"number": interaction.from_address or "",
                  "vip": bool(customer.is_vip) if customer is not None else False}
        out: dict[str, Any] = {"caller": caller, "channel": DSL_KINDS[interaction.channel]}
        for key, value in (extra or {}).items():
            if key == "caller" and isinstance(value, dict):
                caller.update(value)
            else:
                out[key] = value
        return out


class _Run:
    """One restored session performing actions until it waits for something."""

    def __init__(self, host: FlowHost, session: FlowSession, interaction: Interaction, *,
                 loaded: LoadedConfig, interpreter: Interpreter, now: dt.datetime) -> None:
        self.host = host
        self.db = host.db
        self.session = session
        self.interaction = interaction
        self.loaded = loaded
        self.interpreter = interpreter
        self.now = now
        self.timers: dict[str, dt.datetime] = {
            name: dt.datetime.fromisoformat(due) for name, due in (session.timers or {}).items()}
        self.data: dict[str, Any] = dict(session.data or {})
        self.messages: list[Message] = []
        self._last: Message | None = None  # the prompt a following menu belongs to
        self._stamp: dt.datetime | None = None

    # ------------------------------------------------------------------ driving
    def feed(self, event: e.Event) -> None:
        if self.interpreter.state in (IvrState.IDLE, IvrState.ENDED):
            return
        try:
            actions = self.interpreter.feed(event, self.now)
        except InvalidEvent as exc:
            log.info("flow session %s: %s", self.session.id, exc)
            return
        self.perform(actions)

    def perform(self, actions: Iterable[a.Action]) -> None:
        """Carry out actions in order; an action answered at once (a ticket, a refused
        transfer) is fed back and what it leads to is carried out before the rest."""
        todo: deque[a.Action] = deque(actions)
        for _ in range(MAX_EXCHANGES):
            if not todo:
                return
            action = todo.popleft()
            if isinstance(action, a.Play) and todo and isinstance(todo[0], a.Say):
                continue  # the step has text of its own: show that instead
            reply = self._do(action)
            if reply is None or self.interpreter.state is IvrState.ENDED:
                continue
            try:
                more = self.interpreter.feed(reply, self.now)
            except InvalidEvent as exc:
                log.info("flow session %s: %s", self.session.id, exc)
                continue
            todo.extendleft(reversed(more))
        raise FlowError(f"flow session {self.session.id} exchanged {MAX_EXCHANGES} actions "
                        "without waiting for anything")

    def fire_due(self) -> None:
        """Fire live timers due by now, earliest first, until none is due."""
        for _ in range(MAX_EXCHANGES):
            if self.interpreter.state is IvrState.ENDED:
                return
            live = self._live()
            ready = sorted((due, name) for name, due in live.items() if due <= self.now)
            if not ready:
                return
            self.feed(e.Timer(ready[0][1]))

    def save(self) -> None:
        session = self.session
        session.snapshot = self.interpreter.snapshot()
        live = self._live()
        session.timers = _iso_map(live)
        session.data = self.data
        if self.interpreter.state is IvrState.ENDED:
            session.status = FlowStatus.ENDED
            session.next_due_at = None
        else:
            session.node = self.interpreter.node
            session.next_due_at = min(live.values()) if live else None
        self.db.flush()

    def turn(self) -> Turn:
        return Turn(self.session, list(self.messages))

    def _live(self) -> dict[str, dt.datetime]:
        """The interpreter's live timers at the host's due times. A contact's time in a queue
        is the ACD's to measure (``max_wait``): the flow's own queue timer is not run."""
        return {name: self.timers.get(name, due)
                for name, due in self.interpreter.timers.items()
                if not name.startswith("queue:")}

    # ------------------------------------------------------------------ actions
    def _do(self, action: a.Action) -> e.Event | None:  # noqa: PLR0911, PLR0912
        if isinstance(action, a.Say):
            self._last = self._message(action.text)
            return None
        if isinstance(action, a.Play):
            self._last = self._message(AUDIO_PLACEHOLDER.format(audio=action.audio),
                                       headers={"audio": action.audio})
            return None
        if isinstance(action, a.Collect):
            self._present(action)
            return None
        if isinstance(action, a.StartTimer):
            self.timers[action.name] = self._stretch(action)
            return None
        if isinstance(action, a.Lookup):
            self._lookup(action)
            return None
        if isinstance(action, a.Enqueue):
            return self._enqueue(action)
        if isinstance(action, a.Transfer):
            return e.TransferFailed("text channel")
        if isinstance(action, a.Record):
            return e.RecordingDone()  # the customer's next message is the voicemail
        if isinstance(action, a.CreateTicket):
            return self._ticket(action)
        if isinstance(action, a.SendMessage):
            self._send(action)
            return None
        if isinstance(action, a.ScheduleCallback):
            self._callback(action)
            return None
        if isinstance(action, a.ReturnToAgent):
            self._publish(f"tenant.{self.host.tenant_id}.flow.returned", {
                "interaction_id": str(self.interaction.id), "flow": self.session.flow,
                "target": action.target, "variables": action.variables})
            return None
        if isinstance(action, a.Ended):
            self._end(action)
            return None
        return None  # Step, StopPrompts, Hangup (the Ended that follows closes it)

    def _stretch(self, action: a.StartTimer) -> dt.datetime:
        if action.name.startswith("noinput:") and self.interpreter.mode is a.Mode.TEXT:
            return max(action.due, self.now + dt.timedelta(seconds=TEXT_NO_INPUT_SECONDS))
        if action.name.startswith("lookup:"):
            return action.due + dt.timedelta(seconds=LOOKUP_GRACE_SECONDS)
        return action.due

    def _present(self, collect: a.Collect) -> None:
        """Show a menu's choices: numbered lines under the prompt (text), or buttons in the
        prompt message's ``headers["choices"]`` (touch)."""
        last, self._last = self._last, None
        if not collect.choices:
            return
        if collect.mode is a.Mode.TOUCH:
            choices = [{"key": c.key, "label": c.label} for c in collect.choices]
            if last is None:
                last = self._message("")
            last.headers = {**(last.headers or {}), "choices": choices}
            return
        menu = collect.text_menu()
        if last is None:
            self._message(menu)
        else:
            last.body_text = f"{last.body_text}\n{menu}" if last.body_text else menu

    def _message(self, text: str, *, channel: Channel | None = None, to: str | None = None,
                 headers: dict[str, Any] | None = None) -> Message:
        interaction = self.interaction
        channel = channel or interaction.channel
        if to is None and interaction.from_address:
            to = interaction.from_address
        sender = interaction.to_address if channel == interaction.channel else next(
            (c.address for c in self.loaded.config.channels
             if CHANNEL_OF_KIND.get(c.kind) == channel), None)
        stamp = utcnow()
        if self._stamp is not None and stamp <= self._stamp:
            stamp = self._stamp + dt.timedelta(microseconds=1)  # keep the order they were said
        self._stamp = stamp
        message = Message(
            interaction_id=interaction.id, customer_id=interaction.customer_id, channel=channel,
            direction=Direction.OUTBOUND, status=MessageStatus.QUEUED, sender=sender,
            recipients=[to] if to else [], body_text=text, created_at=stamp,
            headers={"X-Kefu-Flow": self.session.flow, **(headers or {})})
        self.db.add(message)
        self.db.flush()
        announce(self.db, self.host.platform.bus, message, flow=self.session.flow)
        self.messages.append(message)
        return message

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        publish_after_commit(self.db, self.host.platform.bus, topic, data)

    def _lookup(self, action: a.Lookup) -> None:
        lookup = {"request_id": action.request_id, "http": action.http,
                  "method": action.method, "url": action.url, "timeout_ms": action.timeout_ms,
                  "headers": [list(h) for h in action.headers]}
        enqueue_after_commit(
            self.db, self.host.platform.jobs, perform_lookup, str(self.host.tenant_id),
            str(self.session.id), lookup,
            job_id=f"flow-lookup-{self.session.id.hex}-{action.request_id}")

    def _enqueue(self, action: a.Enqueue) -> e.Event | None:
        from kefu.platform.routing.service import NoRouting, RoutingService, UnknownQueue

        self._share_variables()
        caller = self.interpreter.variables.get("caller") or {}
        service = RoutingService(self.host.platform, self.db, self.host.tenant_id)
        try:
            result = service.enqueue(self.interaction, action.queue,
                                     priority=action.priority or 0,
                                     attrs={"caller": caller, "flow": self.session.flow})
        except (UnknownQueue, NoRouting, InvalidTransition) as exc:
            log.warning("flow session %s: cannot queue for %s: %s", self.session.id,
                        action.queue, exc)
            return e.NoAgents()
        if result.status == "closed":
            return e.NoAgents()
        return None  # the ACD answers later: notify_routing

    def _ticket(self, action: a.CreateTicket) -> e.Event:
        from kefu.platform.automation.configs import workflow_engine
        from kefu.platform.automation.effects import StepEffects
        from kefu.platform.tickets.services import TicketService
        from kefu.runtime.workflow import WorkflowError

        fields = dict(action.fields)
        subject = str(fields.pop("subject", "") or
                      f"{action.workflow} ({DSL_KINDS[self.interaction.channel]} flow "
                      f"{self.session.flow})")
        description = str(fields.pop("description", "") or "")
        platform = self.host.platform
        service = TicketService(self.db, workflow_engine(self.loaded), effects=StepEffects(
            self.db, jobs=platform.jobs, bus=platform.bus))
        try:
            ticket = service.create({
                "type": action.workflow, "subject": subject[:500], "description": description,
                "customer_id": self.interaction.customer_id,
                "interaction_id": self.interaction.id, "data": fields}, None)
        except WorkflowError as exc:
            log.warning("flow session %s: ticket %s not created: %s", self.session.id,
                        action.workflow, exc)
            return e.TicketCreated(None, action.request_id)
        self.data.setdefault("tickets", []).append(str(ticket.id))
        # The number is what the flow shows the customer ("your report 1042").
        return e.TicketCreated(str(ticket.number), action.request_id)

    def _send(self, action: a.SendMessage) -> None:
        channel = CHANNEL_OF_KIND.get(action.channel)
        if channel is None or not action.to:
            log.warning("flow session %s: cannot send on %r to %r", self.session.id,
                        action.channel, action.to)
            return
        headers = {"template": action.template} if action.template else {}
        self._message(action.text, channel=channel, to=action.to, headers=headers)
        self._last = None

    def _callback(self, action: a.ScheduleCallback) -> None:
        from kefu.platform.routing.service import NoRouting, RoutingService

        self.data["callback"] = action.queue
        try:
            task = RoutingService(self.host.platform, self.db, self.host.tenant_id).callback(
                self.interaction, action.queue)
        except NoRouting as exc:
            log.warning("flow session %s: callback not queued: %s", self.session.id, exc)
            return
        self.data["callback_task"] = str(task.id)

    def _share_variables(self) -> None:
        """Keep the flow's variables with the interaction, for the agent who takes it."""
        data = dict(self.interaction.data or {})
        data["flow"] = {"id": self.session.flow, "variables": self.interpreter.variables}
        self.interaction.data = data

    def _end(self, ended: a.Ended) -> None:
        session = self.session
        session.status = FlowStatus.ENDED
        session.outcome = ended.outcome
        session.ended_at = self.now
        session.node = ended.node
        self._share_variables()
        interaction = self.interaction
        if interaction.state not in (State.CREATED, State.IN_FLOW) \
                or ended.outcome in ("answered", "returned"):
            return  # the ACD (or the agent it returns to) owns the interaction now
        outcome = OUTCOMES.get(ended.outcome, Outcome.FAILED)
        if outcome is Outcome.SELF_SERVICE and self.data.get("callback"):
            outcome = Outcome.CALLBACK
        data = {"flow_outcome": ended.outcome, "node": ended.node, "detail": ended.detail}
        self.host.lifecycle.apply(interaction, Trigger.END, outcome=outcome,
                                  data={k: v for k, v in data.items() if v})


def notify_routing(platform: Platform, db: Session, tenant_id: uuid.UUID,
                   interaction: Interaction, what: str) -> bool:
    """The ACD reports on an interaction a flow queued: ``answered`` or ``max_wait``.

    Called by :class:`~kefu.platform.routing.service.RoutingService` in its transaction, with
    ``interaction`` locked. A no-op (False) when no flow session waits for it.
    """
    return FlowHost(platform, db, tenant_id).routing_result(interaction, what)
