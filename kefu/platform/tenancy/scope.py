"""The one tenant-scoping mechanism.

Every tenant-owned model inherits :class:`TenantScoped`. Every ORM session carries a scope in
``session.info``:

- ``bind_tenant(session, tenant_id)``: every ORM SELECT, UPDATE and DELETE that touches a
  tenant-owned model gets ``tenant_id = :tenant`` added (also for relationship and lazy
  loads), and every new row is stamped with that tenant. A row of another tenant is simply
  not found, which is why the API answers 404 rather than 403.
- ``cross_tenant(session)``: an explicit, greppable escape hatch for platform-level code
  (platform admin pages, identity lookups, reconcilers that walk every tenant).
- neither: a query touching a tenant-owned model raises :class:`TenantScopeError`. The
  mechanism fails closed, so forgetting to scope is a crash in tests, not a data leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

_TENANT_KEY = "kefu.tenant_id"
_CROSS_KEY = "kefu.cross_tenant"


class TenantScopeError(RuntimeError):
    """A tenant-owned table was queried or written without a tenant scope, or across tenants."""


class TenantScoped:
    """Mixin for tenant-owned models: a non-null ``tenant_id`` that leads their indexes."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            sa.Uuid, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
        )


def bind_tenant(session: Session, tenant_id: uuid.UUID) -> Session:
    """Scope ``session`` to one tenant for the rest of its life. Returns the session."""
    current = session.info.get(_TENANT_KEY)
    if current is not None and current != tenant_id:
        raise TenantScopeError(f"session already scoped to tenant {current}, not {tenant_id}")
    session.info[_TENANT_KEY] = tenant_id
    session.info.pop(_CROSS_KEY, None)
    return session


def unbind_tenant(session: Session) -> None:
    session.info.pop(_TENANT_KEY, None)


def current_tenant_id(session: Session) -> uuid.UUID | None:
    return session.info.get(_TENANT_KEY)


@contextmanager
def cross_tenant(session: Session) -> Iterator[Session]:
    """Allow queries across every tenant inside the block. Use only for platform-level code."""
    previous_tenant = session.info.pop(_TENANT_KEY, None)
    previous_cross = session.info.get(_CROSS_KEY, False)
    session.info[_CROSS_KEY] = True
    try:
        yield session
    finally:
        session.info[_CROSS_KEY] = previous_cross
        if previous_tenant is not None:
            session.info[_TENANT_KEY] = previous_tenant


def _touches_tenant_scoped(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_execute(state: ORMExecuteState) -> None:
    if state.is_column_load:
        return  # refreshing columns of an already loaded (and already scoped) row
    if not (state.is_select or state.is_update or state.is_delete):
        return
    session = state.session
    tenant_id = session.info.get(_TENANT_KEY)
    if tenant_id is None:
        if session.info.get(_CROSS_KEY) or not _touches_tenant_scoped(state):
            return
        raise TenantScopeError(
            "query on a tenant-owned table without a tenant scope; "
            "use bind_tenant(session, tenant_id) or, for platform code, cross_tenant(session)"
        )
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
            track_closure_variables=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_and_guard_writes(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get(_TENANT_KEY)
    cross = session.info.get(_CROSS_KEY, False)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise TenantScopeError(
                    f"new {type(obj).__name__} has no tenant_id and the session has no tenant scope"
                )
            obj.tenant_id = tenant_id
        elif tenant_id is not None and obj.tenant_id != tenant_id:
            raise TenantScopeError(
                f"new {type(obj).__name__} belongs to tenant {obj.tenant_id}, "
                f"session is scoped to {tenant_id}"
            )
        elif tenant_id is None and not cross:
            raise TenantScopeError(
                f"new {type(obj).__name__} written without a tenant scope"
            )
    for obj in session.dirty:
        if not isinstance(obj, TenantScoped):
            continue
        history = sa.inspect(obj).attrs.tenant_id.history
        if history.has_changes() and history.deleted and history.deleted[0] is not None:
            raise TenantScopeError(f"{type(obj).__name__} cannot move to another tenant")
