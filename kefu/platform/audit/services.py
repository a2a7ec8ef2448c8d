"""Writing and reading the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.audit.models import AuditEntry
from kefu.platform.logs import current_log_context


def record(
    db: Session,
    action: str,
    *,
    tenant_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None,
    target: Any = None,
    details: dict[str, Any] | None = None,
    remote_addr: str | None = None,
    target_key: tuple[str, str] | None = None,
) -> AuditEntry:
    """Add an audit entry in the caller's transaction (it commits or rolls back with the
    change it describes)."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_user_id=actor_user_id,
        action=action,
        target_type=(target_key[0] if target_key
                     else type(target).__name__.lower() if target is not None else None),
        target_id=(target_key[1] if target_key
                   else str(getattr(target, "id", "")) or None if target is not None else None),
        details=details or {},
        remote_addr=remote_addr,
        request_id=current_log_context().get("request_id"),
    )
    db.add(entry)
    return entry


def count_since(db: Session, action: str, target_key: tuple[str, str], since: Any) -> int:
    """How many ``action`` entries about ``target_key`` were written since ``since``."""
    return int(db.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.target_type == target_key[0],
            AuditEntry.target_id == target_key[1], AuditEntry.created_at >= since)) or 0)


def recent(db: Session, tenant_id: uuid.UUID, limit: int = 100) -> list[AuditEntry]:
    return list(db.scalars(
        sa.select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.created_at.desc()).limit(limit)))
