"""Call recordings: the stereo WAV of a call (customer left, agent right), by interaction."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, TimestampMixin, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class CallRecording(TimestampMixin, TenantScoped, Base):
    __tablename__ = "call_recordings"

    id: Mapped[uuid_pk]
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    # Relative to the ``recordings_dir`` setting: <tenant>/<interaction>.wav.
    path: Mapped[str] = mapped_column(sa.String(500))
    seconds: Mapped[float] = mapped_column(default=0.0)
    # "call" (customer and agent) or "voicemail".
    kind: Mapped[str] = mapped_column(sa.String(20), default="call")
