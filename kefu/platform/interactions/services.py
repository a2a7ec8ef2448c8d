"""Interactions and their messages: recording, finding, updating."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.platform.agents.models import Agent
from kefu.platform.customers.models import Customer
from kefu.platform.db import paginate, utcnow, uuid7
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Message,
    MessageStatus,
)

if TYPE_CHECKING:
    from kefu.platform.jobs import JobQueue


class DuplicateInteraction(ValueError):
    """Another request is storing an interaction with the same channel id at this moment."""

    def __init__(self) -> None:
        super().__init__("an interaction with this external_id is being stored by another "
                         "request; retry")


class DuplicateMessage(ValueError):
    """A message with this channel and external id is stored already, on another interaction."""

    def __init__(self, existing: Message | None) -> None:
        super().__init__(
            "a message with this external_id is stored on another interaction"
            if existing is not None else
            "a message with this external_id is being stored by another request; retry")
        self.existing = existing


class InteractionService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def get(self, interaction_id: uuid.UUID) -> Interaction | None:
        return self.db.get(Interaction, interaction_id)

    def search(
        self, *, channel: Channel | None = None, state: InteractionState | None = None,
        direction: Direction | None = None, customer_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None, queue: str | None = None,
        external_id: str | None = None, created_after: datetime | None = None,
        created_before: datetime | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[Any], int]:
        """Newest first. ``created_after`` is inclusive, ``created_before`` exclusive."""
        query = sa.select(Interaction).order_by(Interaction.created_at.desc(), Interaction.id)
        for column, value in ((Interaction.channel, channel), (Interaction.state, state),
                              (Interaction.direction, direction),
                              (Interaction.customer_id, customer_id),
                              (Interaction.agent_id, agent_id), (Interaction.queue, queue),
                              (Interaction.external_id, external_id)):
            if value is not None:
                query = query.where(column == value)
        if created_after is not None:
            query = query.where(Interaction.created_at >= created_after)
        if created_before is not None:
            query = query.where(Interaction.created_at < created_before)
        return paginate(self.db, query, limit, offset)

    # -- references ----------------------------------------------------------------------

    def customer_exists(self, customer_id: uuid.UUID) -> bool:
        return self.db.scalar(
            sa.select(Customer.id).where(Customer.id == customer_id)) is not None

    def agent_exists(self, agent_id: uuid.UUID) -> bool:
        return self.db.scalar(sa.select(Agent.id).where(Agent.id == agent_id)) is not None

    # -- writing -------------------------------------------------------------------------

    def create(self, fields: dict[str, Any]) -> tuple[Interaction, bool]:
        """Store a new interaction, or return the one this channel id already made.

        Returns:
            ``(interaction, created)``; ``created`` is False for a repeated hand-over (same
            channel and ``external_id``), which changes nothing.

        Raises:
            DuplicateInteraction: another request is storing the same channel id right now.
        """
        external_id = fields.get("external_id")
        if external_id is not None:
            existing = self.db.scalar(sa.select(Interaction).where(
                Interaction.channel == fields["channel"],
                Interaction.external_id == external_id))
            if existing is not None:
                return existing, False
        interaction = Interaction(**fields)
        self.db.add(interaction)
        try:
            self.db.flush()
        except IntegrityError:
            # Stored concurrently between the lookup and the insert; no savepoint (see
            # add_message), so the caller answers 409 and the channel's retry finds it.
            raise DuplicateInteraction from None
        return interaction, True

    def update(self, interaction: Interaction, fields: dict[str, Any]) -> Interaction:
        for name, value in fields.items():
            setattr(interaction, name, value)
        self.db.flush()
        return interaction

    # -- messages ------------------------------------------------------------------------

    def messages(self, interaction_id: uuid.UUID, limit: int = 50,
                 offset: int = 0) -> tuple[list[Message], int]:
        """Oldest first, the order of the conversation."""
        query = (sa.select(Message).where(Message.interaction_id == interaction_id)
                 .order_by(Message.created_at, Message.id))
        return paginate(self.db, query, limit, offset)

    def _by_external_id(self, channel: Channel, external_id: str) -> Message | None:
        return self.db.scalar(sa.select(Message).where(
            Message.channel == channel, Message.external_id == external_id))

    def add_message(self, interaction: Interaction, fields: dict[str, Any], *,
                    jobs: JobQueue | None = None,
                    raise_events: bool = True,
                    looked_up: bool = False, flush: bool = True) -> tuple[Message, bool]:
        """Store a message of the interaction's channel. Returns ``(message, created)``.

        A new inbound message raises its event for the tenant's rules (``sms.received``...,
        see ``kefu.platform.automation``) in the same transaction; with ``jobs`` the rules
        job is queued when it commits, else the automation sweep queues it.

        Idempotent on ``external_id``: a redelivery (same channel and external id, same
        interaction) returns the stored message and writes nothing; the same external id on
        another interaction raises DuplicateMessage, as does a concurrent duplicate that slips
        past the lookup and trips the unique constraint. ``raise_events=False`` stores an
        automated message (auto-reply, bounce) that no rule may answer. ``looked_up``: the
        caller has just looked for the external id in this transaction and found nothing.
        ``flush=False`` leaves the insert to the caller's next flush (many messages go in one
        statement); a duplicate then surfaces as ``IntegrityError`` there.
        """
        external_id = fields.get("external_id")
        if external_id is not None and not looked_up:
            existing = self._by_external_id(interaction.channel, external_id)
            if existing is not None:
                return self._replay(interaction, existing), False
        fields = dict(fields)
        if fields.get("status") is None:
            fields["status"] = (MessageStatus.RECEIVED if fields["direction"] == Direction.INBOUND
                                else MessageStatus.QUEUED)
        fields.setdefault("id", uuid7())
        fields.setdefault("created_at", utcnow())
        message = Message(interaction_id=interaction.id, customer_id=interaction.customer_id,
                          channel=interaction.channel, **fields)
        self.db.add(message)
        try:
            if flush:
                self.db.flush()
        except IntegrityError:
            # A concurrent request stored the same external id between the lookup and the
            # insert. No savepoint (pysqlite's SAVEPOINT handling would commit early), so the
            # transaction is spent: the caller answers 409 and a retry replays the message.
            raise DuplicateMessage(None) from None
        if raise_events:
            from kefu.platform.automation.hooks import message_received

            message_received(self.db, interaction, message, jobs=jobs)
        return message, True

    @staticmethod
    def _replay(interaction: Interaction, existing: Message) -> Message:
        if existing.interaction_id != interaction.id:
            raise DuplicateMessage(existing)
        return existing
