"""Interactions (one row per call, chat, email thread, SMS conversation, fax or kiosk session)
and the unified message store with attachments."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.agents.models import Agent
from kefu.platform.customers.models import Customer
from kefu.platform.db import Base, TimestampMixin, UTCDateTime, created_at, enum_type, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped
from kefu.runtime.lifecycle import Outcome, State, Trigger


class Channel(enum.StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    SMS = "sms"
    FAX = "fax"
    KIOSK = "kiosk"


#: The platform's channels as the DSL names them (``channel webchat … -> flow``).
DSL_KINDS: dict[Channel, str] = {
    Channel.CHAT: "webchat", Channel.SMS: "sms", Channel.EMAIL: "email",
    Channel.KIOSK: "kiosk", Channel.FAX: "fax", Channel.VOICE: "voice",
}
#: DSL channel names (``send … sms``, ``channel email``) → the platform's channels; rules may
#: also say ``chat``.
CHANNEL_OF_KIND: dict[str, Channel] = {**{kind: ch for ch, kind in DSL_KINDS.items()},
                                       "chat": Channel.CHAT}


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


# The lifecycle is the runtime's; the platform stores it.
InteractionState = State


class Interaction(TimestampMixin, TenantScoped, Base):
    __tablename__ = "interactions"
    __table_args__ = (
        sa.Index("ix_interactions_tenant_created", "tenant_id", "created_at"),
        sa.Index("ix_interactions_tenant_customer", "tenant_id", "customer_id"),
        sa.Index("ix_interactions_tenant_state", "tenant_id", "state"),
        # One interaction per channel id (SIP Call-ID, thread root Message-ID, chat session):
        # a channel retrying its hand-over cannot create a second one.
        sa.UniqueConstraint("tenant_id", "channel", "external_id"),
    )

    id: Mapped[uuid_pk]
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    direction: Mapped[Direction] = mapped_column(enum_type(Direction))
    state: Mapped[InteractionState] = mapped_column(
        enum_type(InteractionState), default=InteractionState.CREATED)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    # Queue, flow and disposition names as declared in the tenant's DSL config.
    queue: Mapped[str | None] = mapped_column(sa.String(100))
    flow: Mapped[str | None] = mapped_column(sa.String(100))
    # Caller number, sender address or chat identity, and what they reached (DID, mailbox).
    from_address: Mapped[str | None] = mapped_column(sa.String(254))
    to_address: Mapped[str | None] = mapped_column(sa.String(254))
    subject: Mapped[str | None] = mapped_column(sa.String(500))
    # The channel's own id: SIP Call-ID, email thread root Message-ID, chat session id.
    external_id: Mapped[str | None] = mapped_column(sa.String(500))
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[Outcome | None] = mapped_column(enum_type(Outcome))
    disposition: Mapped[str | None] = mapped_column(sa.String(100))
    # Path of the call recording (under recordings_dir) or the fax/document reference.
    recording_ref: Mapped[str | None] = mapped_column(sa.String(500))
    document_ref: Mapped[str | None] = mapped_column(sa.String(500))
    # The config version the interaction started on: it finishes on that version.
    config_version_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("config_versions.id", ondelete="SET NULL"))
    # Flow variables, IVR path and other channel data.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    customer: Mapped[Customer | None] = relationship()
    agent: Mapped[Agent | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="interaction", order_by="Message.created_at")


class MessageStatus(enum.StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Message(TenantScoped, Base):
    """Every inbound and outbound message of every channel, in one place."""

    __tablename__ = "messages"
    __table_args__ = (
        # The same message delivered twice (SMTP retry, SMS resend) is stored once.
        sa.UniqueConstraint("tenant_id", "channel", "external_id"),
        sa.Index("ix_messages_tenant_interaction", "tenant_id", "interaction_id", "created_at"),
        sa.Index("ix_messages_tenant_customer", "tenant_id", "customer_id", "created_at"),
        sa.Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[uuid_pk]
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    direction: Mapped[Direction] = mapped_column(enum_type(Direction))
    status: Mapped[MessageStatus] = mapped_column(enum_type(MessageStatus))
    sender: Mapped[str | None] = mapped_column(sa.String(254))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str | None] = mapped_column(sa.String(998))
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    # Message-ID, SMSC message id, chat message id: what makes a redelivery recognisable.
    external_id: Mapped[str | None] = mapped_column(sa.String(998))
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(998))
    # The agent who wrote an outbound message (null for customers and automations).
    author_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="SET NULL"))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    # Outbound delivery: tries so far, when the next may start (also the lease of the one
    # running), and why the last failed.
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))

    interaction: Mapped[Interaction] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan")


class Attachment(TenantScoped, Base):
    """A file sent with a message, stored once per content hash under attachments_dir."""

    __tablename__ = "attachments"

    id: Mapped[uuid_pk]
    message_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Where the bytes are: a path relative to attachments_dir, or an object-storage key.
    storage_ref: Mapped[str] = mapped_column(sa.String(500))
    # Inline images in HTML mail are referenced by Content-ID.
    content_id: Mapped[str | None] = mapped_column(sa.String(255))

    message: Mapped[Message] = relationship(back_populates="attachments")


class InteractionEvent(TenantScoped, Base):
    """One lifecycle transition of an interaction: the history reports and the portal read."""

    __tablename__ = "interaction_events"
    __table_args__ = (
        sa.Index("ix_interaction_events_tenant_interaction", "tenant_id", "interaction_id", "at"),
    )

    id: Mapped[uuid_pk]
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="CASCADE"))
    trigger: Mapped[Trigger] = mapped_column(enum_type(Trigger))
    from_state: Mapped[State] = mapped_column(enum_type(State))
    to_state: Mapped[State] = mapped_column(enum_type(State))
    outcome: Mapped[Outcome | None] = mapped_column(enum_type(Outcome))
    # Queue, agent, reason and whatever else the channel or engine recorded with the step.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
