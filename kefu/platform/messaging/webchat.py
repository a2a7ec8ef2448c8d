"""``/ws/chat``: the web chat widget's websocket, and the per-process hub behind it.

The widget (``/chat/widget.js`` on the tenant's own site) connects to
``ws(s)://<kefu>/ws/chat?key=<widget key>`` and speaks protocol v1
(:mod:`kefu.channels.webchat.protocol`, ``docs/webchat.md``). The visitor token it gets in
``welcome`` is its only credential: signed, naming the tenant, the visitor and the session.

:class:`ChatHub` — one per process — holds ONE bus subscription (``tenant.*.message.queued``,
``message.received``, ``interaction.*``, ``routing.*``, ``chat.*``) and hands each event to the
:class:`Room` of its interaction by a dict lookup, so thousands of sockets cost one
subscription. A room (the sockets of one chat session in this process: a visitor may have two
tabs) works through its events in order on a task of its own: it loads a queued message for
the visitor, pushes it and marks it ``sent``; tells of the agent joining, the place in the
queue, the agent typing, read receipts and the end. Because the bus delivers at most once, a
sweep every :data:`SWEEP_SECONDS` looks for queued messages of the sessions held here, and a
lost subscription is replaced and followed by the same sweep, so a message is late at worst,
never lost; a reconnecting widget gets everything after the last message it has
(``hello.since``).

Each socket has a bounded outbox written by its own task: a slow visitor cannot hold up the
hub. Bad frames get an ``error`` frame (and a log line) and the socket stays open; repeated
garbage closes it with 4400, flooding with 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.channels.webchat import protocol as p
from kefu.dsl import ir
from kefu.platform.agents.models import Agent
from kefu.platform.customers.models import CustomerPhone
from kefu.platform.db import utcnow
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Message,
    MessageStatus,
)
from kefu.platform.logs import log_context
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.bindings import normalize_address
from kefu.platform.messaging.intake import (
    ConversationEnded,
    Inbound,
    Intake,
    Received,
    UnknownAddress,
)
from kefu.platform.messaging.outbound import Outbox, set_status
from kefu.platform.web.sockets import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_OVERLOADED,
    Socket,
    websocket_route,
)

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger("kefu.webchat")

CLOSE_UNKNOWN_KEY = 4404
#: How often the hub looks for queued messages the bus did not announce to it.
SWEEP_SECONDS = 10.0
#: How often a waiting visitor hears their place in the queue (besides on every change).
QUEUE_REFRESH_SECONDS = 15.0
#: Frames waiting for one slow socket before it is closed (4429).
OUTBOX_FRAMES = 1000
#: Bad frames one socket may send before it is closed (4400).
MAX_BAD_FRAMES = 20
#: Frames a socket may send in a burst, and per second after it (a token bucket).
RATE_BURST = 40
RATE_PER_SECOND = 10.0
#: Frames over the rate before the socket is closed as flooding (4429).
FLOOD_LIMIT = 100
#: Callback requests one socket may make.
MAX_CALLBACKS = 3
#: Customer typing is published at most this often while it stays the same.
TYPING_REPEAT_SECONDS = 3.0
SESSION_PREFIX = "chat-"
VISITOR_PREFIX = "v-"
ATTACHMENT_PATH = "/chat/attachments/{id}"
_OPEN = (InteractionState.CREATED, InteractionState.IN_FLOW, InteractionState.QUEUED,
         InteractionState.OFFERED, InteractionState.CONNECTED, InteractionState.WRAP_UP)


def typing_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.chat.typing"


def receipt_topic(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}.chat.receipt"


def limits(platform: Platform) -> dict[str, Any]:
    """What the widget may upload (``/chat/upload`` bodies may hold a whole attachment; see
    ``UPLOAD_PATHS`` in ``kefu.platform.web.tweens``)."""
    store = AttachmentStore.from_settings(platform.settings)
    return {"max_attachment_bytes": store.max_bytes, "attachment_types": list(store.allowed)}


def client_id_of(message: Message, session: str | None) -> str | None:
    """The widget's own id of a customer message (external ids are ``<session>/<client>``)."""
    external = message.external_id or ""
    if session and external.startswith(session + "/"):
        return external[len(session) + 1:]
    return external or None


def external_id_for(session: str, client_id: str) -> str:
    # Namespaced by session: one visitor cannot collide with (or probe) another's ids.
    return f"{session}/{client_id}"


# ====================================================================== database side
@dataclass(frozen=True)
class SessionInfo:
    interaction_id: uuid.UUID
    external_id: str
    state: str
    agent: str | None
    queue: str | None

    def frame(self) -> dict[str, Any]:
        return {"id": str(self.interaction_id), "state": self.state,
                "agent": {"name": self.agent} if self.agent else None}

    @property
    def open(self) -> bool:
        return self.state not in (InteractionState.ENDED.value,)


class ChatStore:
    """The chat's database work for one tenant (synchronous: call with ``to_thread``)."""

    def __init__(self, platform: Platform, tenant_id: uuid.UUID) -> None:
        self.platform = platform
        self.tenant_id = tenant_id

    def session(self) -> Session:
        return self.platform.session(self.tenant_id)

    # ------------------------------------------------------------------ sessions
    def find(self, visitor_id: str, external_id: str | None) -> SessionInfo | None:
        """The visitor's session: the one the token names, else their latest chat."""
        with self.session() as db:
            query = sa.select(Interaction).where(Interaction.channel == Channel.CHAT,
                                                 Interaction.from_address == visitor_id)
            row = None
            if external_id:
                row = db.scalar(query.where(Interaction.external_id == external_id))
            if row is None:
                row = db.scalar(query.order_by(Interaction.created_at.desc()).limit(1))
            return self._info(db, row) if row is not None else None

    def info(self, interaction_id: uuid.UUID) -> SessionInfo | None:
        with self.session() as db:
            row = db.get(Interaction, interaction_id)
            return self._info(db, row) if row is not None else None

    def _info(self, db: Session, row: Interaction) -> SessionInfo:
        agent = None
        if row.agent_id and row.state in (InteractionState.CONNECTED, InteractionState.WRAP_UP):
            agent = self.agent_name(db, row.agent_id)
        return SessionInfo(row.id, row.external_id or "", row.state.value, agent, row.queue)

    @staticmethod
    def agent_name(db: Session, agent_id: uuid.UUID) -> str | None:
        agent = db.get(Agent, agent_id)
        return agent.display_name if agent is not None else None

    # ------------------------------------------------------------------ messages
    def history(self, interaction_id: uuid.UUID, since: str | None
                ) -> list[dict[str, Any]]:
        """Every message of the session after ``since`` (all when None or not of this
        session), as frames; queued ones for the visitor are marked sent (they go now)."""
        with self.session() as db:
            query = sa.select(Message).where(Message.interaction_id == interaction_id)
            if since is not None:
                anchor = db.scalar(query.where(Message.id == uuid.UUID(since)))
                if anchor is not None:
                    query = query.where(sa.or_(
                        Message.created_at > anchor.created_at,
                        sa.and_(Message.created_at == anchor.created_at,
                                Message.id > anchor.id)))
            rows = list(db.scalars(query.order_by(Message.created_at, Message.id)))
            frames = [self._frame(db, m) for m in rows if self._for_widget(m)]
            self._mark_sent(db, rows)
            db.commit()
            return frames

    def message(self, message_id: uuid.UUID, interaction_id: uuid.UUID
                ) -> dict[str, Any] | None:
        """One message of the session as a frame (a queued one is marked sent)."""
        with self.session() as db:
            row = db.get(Message, message_id)
            if row is None or row.interaction_id != interaction_id or not self._for_widget(row):
                return None
            frame = self._frame(db, row)
            self._mark_sent(db, [row])
            db.commit()
            return frame

    def queued(self, interaction_ids: Iterable[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(interaction, message) of the visitors' messages still queued."""
        ids = list(interaction_ids)
        found: list[tuple[uuid.UUID, uuid.UUID]] = []
        with self.session() as db:
            for start in range(0, len(ids), 500):
                rows = db.execute(
                    sa.select(Message.interaction_id, Message.id)
                    .where(Message.interaction_id.in_(ids[start:start + 500]),
                           Message.channel == Channel.CHAT,
                           Message.direction == Direction.OUTBOUND,
                           Message.status == MessageStatus.QUEUED)
                    .order_by(Message.created_at, Message.id))
                found += [(interaction_id, message_id) for interaction_id, message_id in rows]
        return found

    @staticmethod
    def _for_widget(message: Message) -> bool:
        # Flows may also send SMS or email from a chat (a confirmation); those are not chat.
        return message.channel == Channel.CHAT

    def _mark_sent(self, db: Session, rows: Iterable[Message]) -> None:
        for row in rows:
            if row.direction == Direction.OUTBOUND and row.status == MessageStatus.QUEUED \
                    and row.channel == Channel.CHAT:
                set_status(db, self.platform.bus, row, MessageStatus.SENT)

    def _frame(self, db: Session, m: Message) -> dict[str, Any]:
        interaction = m.interaction
        session = interaction.external_id if interaction is not None else None
        headers = m.headers or {}
        if m.direction == Direction.INBOUND:
            sender, name = "customer", None
            status = "read" if m.read_at else "delivered" if m.delivered_at else "sent"
            client_id = client_id_of(m, session)
        else:
            client_id = None
            if m.author_agent_id is not None:
                sender, name = "agent", self.agent_name(db, m.author_agent_id)
            elif headers.get("X-Kefu-Flow"):
                sender, name = "bot", None
            else:
                sender, name = "system", None
            status = "sent" if m.status == MessageStatus.QUEUED else m.status.value
        choices = headers.get("choices")
        return p.message_frame(
            message_id=m.id, sender=sender, name=name, text=m.body_text or "",
            at=m.created_at, status=status,
            choices=choices if isinstance(choices, list) else None,
            attachments=[p.AttachmentView(a.id, a.filename, a.content_type, a.size)
                         for a in m.attachments],
            attachment_url=ATTACHMENT_PATH, client_id=client_id)

    # ------------------------------------------------------------------ receipts
    def delivered(self, interaction_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> int:
        """The widget has these messages for the visitor: ``delivered``."""
        with self.session() as db:
            rows = db.scalars(sa.select(Message).where(
                Message.interaction_id == interaction_id, Message.id.in_(list(ids)),
                Message.direction == Direction.OUTBOUND))
            changed = sum(set_status(db, self.platform.bus, m, MessageStatus.DELIVERED)
                          for m in rows)
            db.commit()
            return changed

    def read(self, interaction_id: uuid.UUID, upto: uuid.UUID) -> int | None:
        """The visitor has seen every message up to ``upto``: ``read``. None: no such
        message in this session."""
        with self.session() as db:
            anchor = db.scalar(sa.select(Message).where(
                Message.interaction_id == interaction_id, Message.id == upto))
            if anchor is None:
                return None
            rows = db.scalars(sa.select(Message).where(
                Message.interaction_id == interaction_id,
                Message.direction == Direction.OUTBOUND,
                Message.created_at <= anchor.created_at,
                Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENT,
                                    MessageStatus.DELIVERED])))
            changed = sum(set_status(db, self.platform.bus, m, MessageStatus.READ)
                          for m in rows)
            db.commit()
            return changed

    # ------------------------------------------------------------------ commands
    def callback(self, interaction_id: uuid.UUID, declared: ir.Channel | None, number: str,
                 note: str) -> uuid.UUID:
        """A "call me back" request: an outbound call task queued for agents.

        Raises:
            NoRouting: the tenant has no deployed config (no queues).
            LookupError: the session is gone.
        """
        from kefu.platform.routing.service import NoRouting, RoutingService

        with self.session() as db:
            interaction = db.get(Interaction, interaction_id)
            if interaction is None:
                raise LookupError("the chat session is gone")
            service = RoutingService(self.platform, db, self.tenant_id)
            queue = (declared.queue if declared is not None else None) or interaction.queue
            if not queue:
                ids = service.queue_ids()
                if not ids:
                    raise NoRouting
                queue = ids[0]
            task = service.callback(interaction, queue)
            number = normalize_address("sms", number)[:32]
            task.to_address = number
            task.data = {**(task.data or {}), "number": number, "note": note,
                         "requested_via": "webchat"}
            if interaction.customer_id is not None and db.scalar(sa.select(CustomerPhone.id)
                    .where(CustomerPhone.customer_id == interaction.customer_id,
                           CustomerPhone.number == number)) is None:
                db.add(CustomerPhone(customer_id=interaction.customer_id, number=number))
            task_id = task.id
            db.commit()
            return task_id

    def transcript(self, interaction_id: uuid.UUID, to: str, locale: str) -> uuid.UUID:
        """Queue the conversation as an email to ``to``: an outbound email interaction of
        the same customer; the email channel's sender delivers it."""
        with self.session() as db:
            chat = db.get(Interaction, interaction_id)
            if chat is None:
                raise LookupError("the chat session is gone")
            lines = []
            for m in db.scalars(sa.select(Message).where(
                    Message.interaction_id == interaction_id, Message.channel == Channel.CHAT)
                    .order_by(Message.created_at, Message.id)):
                frame = self._frame(db, m)
                lines.append(p.TranscriptLine(m.created_at, frame["from"], frame["name"],
                                              m.body_text or "",
                                              tuple(a.filename for a in m.attachments)))
            loaded = self.platform.configs.deployed(self.tenant_id)
            mailbox = next((c.address for c in loaded.config.channels if c.kind == "email"),
                           None) if loaded is not None else None
            title = loaded.config.tenant.name if loaded is not None \
                and loaded.config.tenant is not None else None
            subject, body = p.transcript(lines, locale, title if isinstance(title, str)
                                         else None)
            mail = Interaction(channel=Channel.EMAIL, direction=Direction.OUTBOUND,
                               customer_id=chat.customer_id, from_address=mailbox,
                               to_address=to, subject=subject[:500],
                               config_version_id=chat.config_version_id,
                               data={"transcript_of": str(chat.id)})
            db.add(mail)
            db.flush()
            message = Outbox(self.platform, db).reply(mail, body, subject=subject)
            message.headers = {**(message.headers or {}), "transcript_of": str(chat.id)}
            message_id = message.id
            db.commit()
            return message_id

    def places(self, interaction_ids: Iterable[uuid.UUID]
               ) -> dict[uuid.UUID, tuple[int, float | None]]:
        """:meth:`place` of many sessions at once: one read of the queues for all of them."""
        from kefu.platform.routing.service import NoRouting, RoutingService

        ids = list(interaction_ids)
        if not ids:
            return {}
        with self.session() as db:
            try:
                found = RoutingService(self.platform, db, self.tenant_id).places(ids)
            except NoRouting:
                return {}
        return dict(found)


# ====================================================================== storing messages
#: The most visitor messages stored in one transaction.
WRITE_BATCH = 200
# One thread per process stores visitors' messages: writers then never queue on the
# database's write lock (SQLite's busy wait alone cost seconds under load), and the messages
# that arrive while one burst is being written go together in the next (a group commit).
_WRITER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-chat-writer")


class ChatWriter:
    """Stores the visitors' messages of this process a burst at a time (see above)."""

    def __init__(self, platform: Platform) -> None:
        self.intake = Intake(platform)
        self.pending: asyncio.Queue[tuple[Inbound, asyncio.Future[Received]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def receive(self, inbound: Inbound) -> Received:
        """:meth:`Intake.receive` for a message of ``inbound.tenant_id``, written with the
        others waiting at the same time. Raises what it raises."""
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self.pending.put_nowait((inbound, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._write_forever())
        return await future

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.pending.empty():
            burst = [self.pending.get_nowait()]
            while len(burst) < WRITE_BATCH and not self.pending.empty():
                burst.append(self.pending.get_nowait())
            by_tenant: dict[uuid.UUID, list[tuple[Inbound, asyncio.Future[Received]]]] = {}
            for item in burst:
                assert item[0].tenant_id is not None
                by_tenant.setdefault(item[0].tenant_id, []).append(item)
            for tenant_id, items in by_tenant.items():
                try:
                    results = await loop.run_in_executor(
                        _WRITER_THREAD, self.intake.receive_many, tenant_id,
                        [inbound for inbound, _ in items])
                except Exception as exc:
                    results = [exc] * len(items)
                for (_, future), result in zip(items, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)


# ====================================================================== the hub
class Room:
    """The sockets of one chat session in this process, and its events in order."""

    def __init__(self, hub: ChatHub, tenant_id: uuid.UUID, interaction_id: uuid.UUID,
                 state: str) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        self.interaction_id = interaction_id
        self.state = state
        self.connections: set[Connection] = set()
        self.store = ChatStore(hub.platform, tenant_id)
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.ended_sent = False
        self.last_place: tuple[int, float | None] | None = None
        self.place_checked = 0.0

    def post(self, kind: str, data: dict[str, Any]) -> None:
        self.events.put_nowait((kind, data))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())

    def broadcast(self, frame: dict[str, Any]) -> None:
        for connection in list(self.connections):
            connection.from_room(frame)

    async def _work(self) -> None:
        while not self.events.empty():
            kind, data = self.events.get_nowait()
            if not self.connections:
                continue
            try:
                await self._handle(kind, data)
            except Exception:
                log.exception("chat session %s: handling %s failed", self.interaction_id, kind)

    async def _handle(self, kind: str, data: dict[str, Any]) -> None:
        if kind in ("message.queued", "message.received", "sync.message"):
            if data.get("channel", "chat") != Channel.CHAT.value or (
                    kind == "message.received" and self._everyone_has(data)):
                return
            frame = await asyncio.to_thread(self.store.message, uuid.UUID(data["message_id"]),
                                            self.interaction_id)
            if frame is not None:
                self.broadcast(frame)
        elif kind == "chat.typing":
            if data.get("who") == "agent":
                self.broadcast(p.typing_frame(bool(data.get("active"))))
        elif kind == "chat.receipt":
            for message_id in data.get("ids", [])[:p.MAX_IDS * 5]:
                self.broadcast(p.receipt_frame(str(message_id), str(data.get("status"))))
        elif kind.startswith("interaction."):
            self.state = str(data.get("to") or self.state)
            trigger = kind.split(".", 1)[1]
            if trigger == "answer":
                agent_id = (data.get("data") or {}).get("agent_id")
                name = await asyncio.to_thread(self._agent_name, agent_id)
                self.broadcast({"type": "agent_joined", "name": name})
            elif trigger == "end":
                self.end(str(data.get("outcome") or "ended"))
            elif self.state == InteractionState.QUEUED.value:
                await self.refresh_place(force=True)
        elif kind.startswith("routing."):
            await self.refresh_place(force=True)

    def _everyone_has(self, data: dict[str, Any]) -> bool:
        """Whether each socket here already has this visitor message: it sent it (and acks
        it itself) or has shown it. Then there is nothing to load and push."""
        message_id = str(data.get("message_id"))
        external = str(data.get("external_id") or "")
        client_id = external.rpartition("/")[2] if "/" in external else None
        return all(message_id in c.seen or (client_id is not None and client_id in c.sending)
                   for c in self.connections)

    def _agent_name(self, agent_id: Any) -> str | None:
        try:
            key = uuid.UUID(str(agent_id))
        except ValueError:
            return None
        with self.store.session() as db:
            return self.store.agent_name(db, key)

    def end(self, reason: str) -> None:
        self.state = InteractionState.ENDED.value
        if not self.ended_sent:
            self.ended_sent = True
            self.broadcast({"type": "ended", "reason": reason})

    async def refresh_place(self, *, force: bool) -> None:
        if self.state == InteractionState.QUEUED.value:
            self.hub.want_place(self, force=force)

    def show_place(self, place: tuple[int, float | None], *, force: bool) -> None:
        if force or place != self.last_place:
            self.last_place = place
            self.broadcast(p.queue_frame(*place))


class ChatHub:
    """This process's chat sockets, by session, behind one bus subscription."""

    PATTERNS = ("tenant.*.message.queued", "tenant.*.message.received",
                "tenant.*.interaction.*", "tenant.*.routing.*", "tenant.*.chat.*")

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.loop = asyncio.get_running_loop()
        self.rooms: dict[uuid.UUID, Room] = {}
        self.connections = 0
        self.max_connections = int(platform.settings["webchat.max_sessions"])
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._resync: asyncio.Task[None] | None = None
        self.writer = ChatWriter(platform)
        self._places_wanted: dict[uuid.UUID, dict[uuid.UUID, bool]] = {}
        self._placer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ sockets
    def admit(self) -> bool:
        if self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def release(self) -> None:
        self.connections -= 1

    async def running(self) -> None:
        """Start the subscription with the first socket; wait until it is in place, so a
        message announced after ``welcome`` is never missed."""
        if self._task is None or self._task.done():
            self._subscribed.clear()
            self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 10)

    def join(self, connection: Connection, interaction_id: uuid.UUID, state: str) -> Room:
        room = self.rooms.get(interaction_id)
        if room is None:
            room = self.rooms[interaction_id] = Room(self, connection.tenant_id,
                                                     interaction_id, state)
        room.connections.add(connection)
        return room

    def leave(self, connection: Connection, room: Room) -> None:
        room.connections.discard(connection)
        if not room.connections and self.rooms.get(room.interaction_id) is room:
            del self.rooms[room.interaction_id]

    # ------------------------------------------------------------------ events
    async def _run(self) -> None:
        from kefu.platform.events.api import SubscriptionLost

        sweeper = asyncio.create_task(self._sweep_forever())
        try:
            while True:
                try:
                    subscription = await self.platform.bus.subscribe(
                        patterns=self.PATTERNS, max_pending=10_000)
                except RuntimeError:
                    return  # the bus is closed: the process is stopping
                self._subscribed.set()
                try:
                    async for event in subscription:
                        self.dispatch(event.topic, event.data)
                    return  # closed: the process is stopping
                except SubscriptionLost as exc:
                    log.warning("chat hub lost its subscription (%s); resubscribing", exc)
                    await asyncio.sleep(0.5)
                    self.resync()
                finally:
                    await subscription.close()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    def dispatch(self, topic: str, data: dict[str, Any]) -> None:
        parts = topic.split(".")
        if len(parts) < 4:
            return
        try:
            room = self.rooms.get(uuid.UUID(str(data.get("interaction_id"))))
        except ValueError:
            return
        # The tenant in the topic must be the room's: an event never crosses tenants.
        if room is None or str(room.tenant_id) != parts[1]:
            return
        room.post(".".join(parts[2:]), data)

    def resync(self) -> None:
        self._resync = asyncio.create_task(self._sweep_once())

    # ------------------------------------------------------------------ queue places
    def want_place(self, room: Room, *, force: bool) -> None:
        """Tell ``room`` its place in the queue soon. Requests are gathered and answered
        with one read of the queues per tenant, so a burst of arrivals (or thousands of
        sessions) costs a few reads, not one each."""
        wanted = self._places_wanted.setdefault(room.tenant_id, {})
        wanted[room.interaction_id] = wanted.get(room.interaction_id, False) or force
        if self._placer is None or self._placer.done():
            self._placer = asyncio.create_task(self._tell_places())

    async def _tell_places(self) -> None:
        while self._places_wanted:
            batch, self._places_wanted = self._places_wanted, {}
            for tenant_id, wanted in batch.items():
                try:
                    places = await asyncio.to_thread(
                        ChatStore(self.platform, tenant_id).places, list(wanted))
                except Exception:
                    log.exception("chat hub: reading queue places failed")
                    continue
                now = time.monotonic()
                for interaction_id, force in wanted.items():
                    room = self.rooms.get(interaction_id)
                    place = places.get(interaction_id)
                    if room is not None and place is not None:
                        room.place_checked = now
                        room.show_place(place, force=force)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._sweep_once()
            except Exception:
                log.exception("chat hub sweep failed")

    async def _sweep_once(self) -> None:
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
        waiting: dict[uuid.UUID, list[uuid.UUID]] = {}
        now = time.monotonic()
        for room in list(self.rooms.values()):
            by_tenant.setdefault(room.tenant_id, []).append(room.interaction_id)
            if (room.state == InteractionState.QUEUED.value
                    and now - room.place_checked >= QUEUE_REFRESH_SECONDS):
                waiting.setdefault(room.tenant_id, []).append(room.interaction_id)
        for tenant_id, ids in by_tenant.items():
            store = ChatStore(self.platform, tenant_id)
            found = await asyncio.to_thread(store.queued, ids)
            for interaction_id, message_id in found:
                holder = self.rooms.get(interaction_id)
                if holder is not None:
                    holder.post("sync.message", {"message_id": str(message_id)})
        # Everyone still waiting hears their place again (when it changed).
        for ids in waiting.values():
            for interaction_id in ids:
                holder = self.rooms.get(interaction_id)
                if holder is not None:
                    self.want_place(holder, force=False)


_HUBS: weakref.WeakKeyDictionary[Platform, ChatHub] = weakref.WeakKeyDictionary()


def hub_for(platform: Platform) -> ChatHub:
    """This process's hub for ``platform`` (one per event loop)."""
    hub = _HUBS.get(platform)
    if hub is None or hub.loop is not asyncio.get_running_loop():
        hub = _HUBS[platform] = ChatHub(platform)
    return hub


# ====================================================================== one socket
class _Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Connection:
    """One widget socket: reads and answers its frames, writes from a bounded outbox."""

    def __init__(self, socket: Socket, platform: Platform, hub: ChatHub, *,
                 tenant_id: uuid.UUID, key: str, declared: ir.Channel | None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.socket = socket
        self.platform = platform
        self.hub = hub
        self.tenant_id = tenant_id
        self.key = key
        self.declared = declared
        self.clock = clock
        self.store = ChatStore(platform, tenant_id)
        self.intake = Intake(platform)
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_FRAMES)
        self.origin = _http_origin(socket)
        self.visitor_id: str | None = None
        self.token: str | None = None
        self.locale = "en"
        self.session: SessionInfo | None = None
        self.room: Room | None = None
        self.ready = False
        self.held: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.sending: set[str] = set()  # client ids being stored by this socket
        self.bad_frames = 0
        self.over_rate = 0
        self.allowance = float(RATE_BURST)
        self.rate_at = time.monotonic()
        self.rate_warned = 0.0
        self.callbacks = 0
        self.typing: tuple[bool, float] = (False, 0.0)
        self.overflowed = False
        self._closer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ output
    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the visitor; a socket that cannot keep up is closed."""
        if self.overflowed:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("chat socket of visitor %s fell %d frames behind; closing",
                        self.visitor_id, OUTBOX_FRAMES)
            self._closer = asyncio.create_task(
                self.socket.close(CLOSE_OVERLOADED, "too many frames pending; reconnect"))

    def from_room(self, frame: dict[str, Any]) -> None:
        """A frame of the session's room; held until this socket's welcome has gone."""
        if not self.ready:
            self.held.append(frame)
            return
        if frame.get("type") == "message":
            if frame["id"] in self.seen:
                return
            if frame.get("from") == "customer" and frame.get("client_id") in self.sending:
                return  # this socket acks it itself
            self.seen.add(frame["id"])
            frame = self._with_links(frame)
        self.send(frame)

    def _with_links(self, frame: dict[str, Any]) -> dict[str, Any]:
        if not frame.get("attachments"):
            return frame
        links = [{**a, "url": f"{self.origin}{a['url']}?token={self.token}"}
                 for a in frame["attachments"]]
        return {**frame, "attachments": links}

    def _go_live(self) -> None:
        self.ready = True
        held, self.held = self.held, []
        for frame in held:
            self.from_room(frame)

    async def _write(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None:
                return
            await self.socket.send_json(frame)

    # ------------------------------------------------------------------ input
    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        code, reason = 1000, ""
        try:
            reader = asyncio.create_task(self._read())
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, writer):
                if task not in done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            result = reader.exception() if reader in done and not reader.cancelled() else None
            if isinstance(result, _Closing):
                code, reason = result.code, result.reason
            elif result is not None and not isinstance(result, _Disconnected):
                log.error("chat socket failed", exc_info=result)
                code, reason = 1011, "internal error"
        finally:
            if self.room is not None:
                self.hub.leave(self, self.room)
            if not self.socket.closed:
                with contextlib.suppress(Exception):
                    await self.socket.close(code, reason)

    async def _read(self) -> None:
        while True:
            if self.overflowed:
                raise _Closing(CLOSE_OVERLOADED, "too many frames pending; reconnect")
            message = await self.socket._receive()  # raw: binary frames get their own error
            if message["type"] == "websocket.disconnect":
                self.socket.closed = True
                raise _Disconnected
            try:
                self._meter()
                frame = p.parse_frame(message.get("text"), message.get("bytes"))
                await self._handle(frame)
            except p.FrameError as exc:
                self._bad(exc.code, str(exc))

    def _meter(self) -> None:
        """A token bucket: bursts are fine, a steady flood is refused and then closed."""
        now = time.monotonic()
        self.allowance = min(RATE_BURST, self.allowance + (now - self.rate_at) * RATE_PER_SECOND)
        self.rate_at = now
        if self.allowance >= 1:
            self.allowance -= 1
            return
        self.over_rate += 1
        if self.over_rate > FLOOD_LIMIT:
            log.warning("chat socket of visitor %s flooding; closing", self.visitor_id)
            raise _Closing(CLOSE_OVERLOADED, "too many frames")
        if now - self.rate_warned > 1:
            self.rate_warned = now
            self.send(p.error_frame("rate_limited", f"more than {RATE_PER_SECOND:g} frames a "
                                    "second; slow down"))
        raise p.FrameError("rate_limited", "frame dropped: over the rate limit")

    def _bad(self, code: str, message: str) -> None:
        if code == "rate_limited":
            return  # told once a second by _meter
        self.bad_frames += 1
        log.info("chat socket of visitor %s: bad frame (%s): %s", self.visitor_id, code,
                 message)
        self.send(p.error_frame(code, message))
        if self.bad_frames >= MAX_BAD_FRAMES:
            raise _Closing(CLOSE_BAD_MESSAGE, f"{MAX_BAD_FRAMES} bad frames")

    async def _handle(self, frame: p.ClientFrame) -> None:
        if isinstance(frame, p.Ping):
            self.send({"type": "pong"})
            return
        if isinstance(frame, p.Hello):
            await self._hello(frame)
            return
        if self.visitor_id is None:
            raise p.FrameError("hello_first", "send hello first")
        if isinstance(frame, p.Start):
            await self._start(frame)
            return
        session = self.session
        if isinstance(frame, p.CallbackRequest):
            await self._callback(frame)
            return
        if session is None:
            raise p.FrameError("no_session", "no chat yet: send start first")
        if isinstance(frame, p.SendText):
            await self._message(frame, session)
        elif isinstance(frame, p.Typing):
            await self._typing(frame, session)
        elif isinstance(frame, p.Received):
            await asyncio.to_thread(self.store.delivered, session.interaction_id, frame.ids)
        elif isinstance(frame, p.Read):
            changed = await asyncio.to_thread(self.store.read, session.interaction_id,
                                              frame.upto)
            if changed is None:
                raise p.FrameError("bad_message", f"read.upto: no message {frame.upto} in "
                                   "this chat")
        elif isinstance(frame, p.End):
            await self._end(frame, session)

    # ------------------------------------------------------------------ frames
    async def _hello(self, hello: p.Hello) -> None:
        if self.visitor_id is not None:
            raise p.FrameError("bad_message", "hello: already said hello on this socket")
        self.locale = hello.locale
        now = self.clock()
        token: p.VisitorToken | None = None
        if hello.token:
            try:
                token = p.verify_token(self.platform.settings.secret_key, hello.token, now)
            except p.TokenExpired:
                token = None  # an old visitor starts afresh
            except p.TokenInvalid as exc:
                log.info("chat hello with a refused token: %s", exc)
                self.send(p.error_frame("bad_token", "this visitor token is not valid here; "
                                        "forget it and connect again without one"))
                raise _Closing(CLOSE_FORBIDDEN, "bad token") from None
            if token is not None and token.tenant_id != self.tenant_id:
                log.warning("chat hello: a token of tenant %s used with a key of tenant %s",
                            token.tenant_id, self.tenant_id)
                self.send(p.error_frame("bad_token", "this visitor token belongs to another "
                                        "widget; forget it and connect again without one"))
                raise _Closing(CLOSE_FORBIDDEN, "token of another tenant")
        if token is None:
            token = p.VisitorToken(self.tenant_id, VISITOR_PREFIX + uuid.uuid4().hex)
        self.visitor_id = token.visitor_id
        session = await asyncio.to_thread(self.store.find, token.visitor_id, token.session)
        history: list[dict[str, Any]] = []
        if session is not None:
            token = p.VisitorToken(self.tenant_id, token.visitor_id, session.external_id)
            self._join(session)
            history = await asyncio.to_thread(self.store.history, session.interaction_id,
                                              hello.since)
        self.token = p.sign_token(self.platform.settings.secret_key, token, now)
        self.seen.update(f["id"] for f in history)
        self.send({"type": "welcome", "protocol": p.PROTOCOL_VERSION, "token": self.token,
                   "session": session.frame() if session is not None else None,
                   "form": self._form(), "history": [self._with_links(f) for f in history],
                   "limits": limits(self.platform)})
        self._go_live()
        if session is not None and self.room is not None:
            if not session.open:
                self.room.ended_sent = True
            elif session.state == InteractionState.QUEUED.value:
                await self.room.refresh_place(force=True)

    def _form(self) -> dict[str, Any] | None:
        form = self._declared_form()
        return p.form_schema(form, self.locale) if form is not None else None

    def _declared_form(self) -> ir.Form | None:
        if self.declared is None or not self.declared.form:
            return None
        loaded = self.platform.configs.deployed(self.tenant_id)
        if loaded is None:
            return None
        return next((f for f in loaded.config.forms if f.id == self.declared.form), None)

    def _join(self, session: SessionInfo) -> None:
        if self.room is not None:
            self.hub.leave(self, self.room)
        self.session = session
        self.room = self.hub.join(self, session.interaction_id, session.state)

    async def _start(self, start: p.Start) -> None:
        assert self.visitor_id is not None
        if self.session is not None and self.session.open:
            self.send({"type": "started", "session": self.session.frame(), "token": self.token})
            return
        form = self._declared_form()
        values = start.fields
        if form is not None:
            values, errors = p.validate_form(form, start.fields, self.locale)
            if errors:
                self.send({"type": "form_errors", "errors": errors})
                return
        name, email, phone = p.contact_details(form, values)
        session_id = SESSION_PREFIX + uuid.uuid4().hex
        opened = await asyncio.to_thread(
            self.intake.open_conversation, self.tenant_id, Channel.CHAT,
            to_address=self.key, from_address=self.visitor_id, external_id=session_id,
            display_name=name, email=email, phone=phone, variables={"form": values})
        info = await asyncio.to_thread(self.store.info, opened.interaction_id)
        if info is None:
            raise p.FrameError("internal", "the chat could not be started; try again")
        self.ready = False
        self._join(info)
        self.token = p.sign_token(self.platform.settings.secret_key,
                                  p.VisitorToken(self.tenant_id, self.visitor_id, session_id),
                                  self.clock())
        history = await asyncio.to_thread(self.store.history, info.interaction_id, None)
        self.seen.update(f["id"] for f in history)
        fresh = await asyncio.to_thread(self.store.info, opened.interaction_id)
        if fresh is not None:
            self.session = fresh
        log.info("chat %s started by visitor %s", session_id, self.visitor_id)
        self.send({"type": "started", "session": self.session.frame() if self.session else
                   info.frame(), "token": self.token})
        for frame in history:
            self.send(self._with_links(frame))
        self._go_live()
        if self.session is not None and self.room is not None:
            self.room.state = self.session.state
            if not self.session.open:
                self.room.end("ended")
            elif self.session.state == InteractionState.QUEUED.value:
                await self.room.refresh_place(force=True)

    async def _message(self, frame: p.SendText, session: SessionInfo) -> None:
        assert self.visitor_id is not None
        if self.room is not None and self.room.ended_sent:
            raise p.FrameError("ended", "this chat has ended; start a new one")
        self.sending.add(frame.client_id)
        try:
            received = await self.hub.writer.receive(Inbound(
                channel=Channel.CHAT, to_address=self.key, from_address=self.visitor_id,
                text=frame.text, external_id=external_id_for(session.external_id,
                                                             frame.client_id),
                thread_id=session.external_id, tenant_id=self.tenant_id))
        except ConversationEnded:
            if self.room is not None:
                self.room.end("ended")
            raise p.FrameError("ended", "this chat has ended; start a new one") from None
        except UnknownAddress:
            raise p.FrameError("unknown_key", "this widget key is no longer in use") from None
        finally:
            self.sending.discard(frame.client_id)
        self.seen.add(str(received.message_id))
        self.send(p.ack_frame(frame.client_id, received.message_id, self.clock()))

    async def _typing(self, frame: p.Typing, session: SessionInfo) -> None:
        last_active, last_at = self.typing
        now = time.monotonic()
        if frame.active == last_active and now - last_at < TYPING_REPEAT_SECONDS:
            return
        self.typing = (frame.active, now)
        await self.platform.bus.apublish(typing_topic(self.tenant_id), {
            "interaction_id": str(session.interaction_id), "who": "customer",
            "active": frame.active})

    async def _callback(self, frame: p.CallbackRequest) -> None:
        from kefu.platform.routing.service import NoRouting

        if self.session is None:
            raise p.FrameError("no_session", "start a chat first, then ask for a callback")
        if self.callbacks >= MAX_CALLBACKS:
            raise p.FrameError("rate_limited", "a callback has been requested already")
        try:
            task_id = await asyncio.to_thread(self.store.callback, self.session.interaction_id,
                                              self.declared, frame.number, frame.note)
        except NoRouting:
            raise p.FrameError("unavailable", "callbacks are not available here") from None
        self.callbacks += 1
        log.info("chat %s: callback %s requested", self.session.external_id, task_id)
        self.send({"type": "callback_requested", "id": str(task_id)})

    async def _end(self, frame: p.End, session: SessionInfo) -> None:
        if self.room is not None:
            # Before the lifecycle's own "end" event can reach the room: the visitor left.
            self.room.end("customer_left")
        await asyncio.to_thread(self.intake.end_conversation, self.tenant_id,
                                session.interaction_id)
        if frame.transcript_to:
            message_id = await asyncio.to_thread(self.store.transcript, session.interaction_id,
                                                 frame.transcript_to, self.locale)
            log.info("chat %s: transcript queued as email %s", session.external_id,
                     message_id)
        self.session = SessionInfo(session.interaction_id, session.external_id,
                                   InteractionState.ENDED.value, None, session.queue)


class _Disconnected(Exception):
    """The visitor went away."""


def _http_origin(socket: Socket) -> str:
    scheme = "https" if socket.scope.get("scheme") in ("wss", "https") else "http"
    host = socket.headers.get("host") or "localhost"
    return f"{scheme}://{host}"


def _query(socket: Socket) -> dict[str, str]:
    raw = socket.scope.get("query_string", b"").decode("latin-1")
    return {k: v[0] for k, v in parse_qs(raw).items() if v}


@websocket_route("/ws/chat")
async def chat_socket(socket: Socket, platform: Platform) -> None:
    """The widget's socket (see the module notes and ``docs/webchat.md``)."""
    if not await socket.handshake():
        return
    key = _query(socket).get("key", "")
    intake = Intake(platform)
    tenant_id = await asyncio.to_thread(intake.tenant_for, Channel.CHAT, key) if key else None
    # Accept, then close with the reason: a browser never sees a refused handshake's status.
    await socket.accept()
    if tenant_id is None:
        log.info("chat socket with unknown widget key %r refused", key[:100])
        await socket.close(CLOSE_UNKNOWN_KEY, "unknown widget key")
        return
    hub = hub_for(platform)
    if not hub.admit():
        log.warning("chat socket refused: %d sockets open (webchat.max_sessions)",
                    hub.connections)
        await socket.close(CLOSE_OVERLOADED, "busy; try again later")
        return
    try:
        await hub.running()
        declared = await asyncio.to_thread(intake.declared, tenant_id, Channel.CHAT, key)
        with log_context(tenant_id=tenant_id):
            await Connection(socket, platform, hub, tenant_id=tenant_id, key=key,
                             declared=declared).run()
    finally:
        hub.release()


__all__ = ["ChatHub", "ChatStore", "chat_socket", "hub_for", "limits", "receipt_topic",
           "typing_topic"]
