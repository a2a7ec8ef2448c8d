"""Helpers API handlers share: the acting tenant and user, and recording a change."""

from __future__ import annotations

import uuid
from typing import Any

from pyramid.request import Request

from kefu.platform.audit import services as audit


def tenant_id(request: Request) -> uuid.UUID:
    return request.tenant.id


def audit_change(request: Request, action: str, target: Any, **details: Any) -> None:
    """Write the audit entry in the request's transaction and, once it commits, tell the
    tenant's live sockets (``tenant.<id>.<action>``, e.g. ``customer.update``)."""
    identity = request.identity
    entry = audit.record(
        request.db, action, tenant_id=identity.tenant_id, actor_user_id=identity.user_id,
        target=target, details=details, remote_addr=request.client_addr,
    )
    if request.tenant is not None:
        request.publish(action, {
            "target_type": entry.target_type, "target_id": entry.target_id,
            "actor_user_id": str(identity.user_id), "details": entry.details,
        })
