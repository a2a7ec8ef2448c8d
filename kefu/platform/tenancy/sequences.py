"""Per-tenant locks and counters (ticket numbers, config versions)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from kefu.platform.tenancy.scope import TenantScopeError, current_tenant_id


def lock_in_tenant(db: Session, name: str) -> uuid.UUID:
    """Take the tenant's lock called ``name`` until the transaction ends (PostgreSQL: an
    advisory lock, which blocks no row; SQLite serializes every writer anyway). Returns the
    tenant id of the session."""
    tenant_id = current_tenant_id(db)
    if tenant_id is None:
        raise TenantScopeError(f"the {name} lock needs a tenant-scoped session")
    if db.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"kefu.{name}:{tenant_id}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        db.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    return tenant_id


def next_in_tenant(db: Session, column: InstrumentedAttribute[int], name: str) -> Any:
    """A SQL expression for the next value of a per-tenant counter column (max + 1), to assign
    to the new row's attribute so the INSERT computes it.

    Two concurrent inserts never get the same value: on SQLite the INSERT with its sub-select is
    one statement under the database's single write lock; on PostgreSQL a transaction-scoped
    advisory lock per (counter, tenant) serializes the allocations until commit (it blocks no
    other writes). The tenant filter is written out because the scoping mechanism does not reach
    into an INSERT's sub-select.
    """
    tenant_id = lock_in_tenant(db, name)
    model = column.class_
    return (sa.select(sa.func.coalesce(sa.func.max(column), 0) + 1)
            .where(model.tenant_id == tenant_id).scalar_subquery())
