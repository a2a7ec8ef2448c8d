"""Which tenant owns a channel address: the directory inbound traffic is routed by.

A platform-level table, like ``tenants`` itself, and deliberately not tenant-scoped: an SMS to
``+441632960001`` or mail to ``help@acme.example`` arrives *before* anyone knows the tenant,
and this is how kefu finds it. Rows are written only when a tenant deploys a config
(:func:`kefu.platform.messaging.bindings.sync_bindings`), one row per (kind, address), so an
address can never deliver into two tenants.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, TimestampMixin, uuid_pk


class ChannelBinding(TimestampMixin, Base):
    __tablename__ = "channel_bindings"
    __table_args__ = (sa.UniqueConstraint("kind", "address"),)

    id: Mapped[uuid_pk]
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The DSL's channel kind (webchat, email, sms, voice, fax, kiosk) and the normalised
    # address (lower-case mailbox, +digits number, widget key as written).
    kind: Mapped[str] = mapped_column(sa.String(20))
    address: Mapped[str] = mapped_column(sa.String(254))
    flow: Mapped[str | None] = mapped_column(sa.String(100))
