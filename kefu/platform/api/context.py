"""Helpers API handlers share: the acting tenant and user, and auditing a change."""

from __future__ import annotations

import uuid
from typing import Any

from pyramid.request import Request

from kefu.platform.audit import services as audit


def tenant_id(request: Request) -> uuid.UUID:
    return request.tenant.id  # type: ignore[no-any-return]


def audit_change(request: Request, action: str, target: Any, **details: Any) -> None:
    identity = request.identity
    audit.record(
        request.db, action, tenant_id=identity.tenant_id, actor_user_id=identity.user_id,
        target=target, details=details, remote_addr=request.client_addr,
    )
