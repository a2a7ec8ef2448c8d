"""Interactions and their messages: recording, finding, updating."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.db import paginate
from kefu.platform.interactions.models import Interaction


class InteractionService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def get(self, interaction_id: uuid.UUID) -> Interaction | None:
        return self.db.get(Interaction, interaction_id)

    def search(self, *, limit: int = 50, offset: int = 0) -> tuple[list[Any], int]:
        query = sa.select(Interaction).order_by(Interaction.created_at.desc(), Interaction.id)
        return paginate(self.db, query, limit, offset)
