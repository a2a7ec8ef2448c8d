"""Read models for the admin page: which tenants and users an identity may see."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.identity.members import MemberService
from kefu.platform.identity.models import Membership, User
from kefu.platform.identity.services import Identity
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import cross_tenant


@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    members: int


@dataclass(frozen=True)
class UserRow:
    user: User
    roles: list[str]


class Directory:
    def __init__(self, db: Session, identity: Identity) -> None:
        self.db = db
        self.identity = identity

    def tenants(self) -> list[TenantRow]:
        """Every tenant for platform operators; otherwise only the current one."""
        counts = (
            sa.select(Membership.tenant_id, sa.func.count(sa.distinct(Membership.user_id)))
            .group_by(Membership.tenant_id)
        )
        query = sa.select(Tenant).order_by(Tenant.name)
        if not self.identity.is_superuser:
            query = query.where(Tenant.id == self.identity.tenant_id)
        with cross_tenant(self.db):
            member_counts = dict(self.db.execute(counts).all())
            return [TenantRow(t, member_counts.get(t.id, 0)) for t in self.db.scalars(query)]

    def users(self) -> list[UserRow]:
        """Members of the current tenant, with their roles there."""
        if self.identity.tenant_id is None:
            return []
        return [UserRow(user, [role.value for role in roles])
                for user, roles in MemberService(self.db).list()]
