"""The members of one tenant and their roles. Membership rows are tenant-scoped, so a session
bound to a tenant sees only that tenant's members; a user of another tenant is not found."""

from __future__ import annotations

import builtins
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.identity.models import DutyRole, Membership, Role, User
from kefu.platform.tenancy.scope import cross_tenant, current_tenant_id


class MemberService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def list(self) -> builtins.list[tuple[User, builtins.list[Role]]]:
        """Every member with their roles, by display name."""
        rows = self.db.execute(
            sa.select(User, Membership.role).join(Membership, Membership.user_id == User.id)
            .order_by(User.display_name, User.id, Membership.role)).all()
        grouped: dict[uuid.UUID, tuple[User, builtins.list[Role]]] = {}
        for user, role in rows:
            grouped.setdefault(user.id, (user, []))[1].append(role)
        return builtins.list(grouped.values())

    def get(self, user_id: uuid.UUID) -> tuple[User, builtins.list[Role]] | None:
        roles = sorted(self.db.scalars(
            sa.select(Membership.role).where(Membership.user_id == user_id)))
        user = self.db.get(User, user_id) if roles else None
        return (user, roles) if user is not None else None

    def is_member(self, user_id: uuid.UUID) -> bool:
        return self.db.scalar(
            sa.select(Membership.id).where(Membership.user_id == user_id).limit(1)) is not None

    def set_roles(self, user: User, roles: builtins.list[Role]) -> None:
        """Make ``roles`` the user's roles here; an empty list removes them from the tenant."""
        current = {m.role: m for m in self.db.scalars(
            sa.select(Membership).where(Membership.user_id == user.id))}
        for role, membership in current.items():
            if role not in roles:
                self.db.delete(membership)
        for role in sorted(set(roles) - set(current)):
            self.db.add(Membership(user_id=user.id, role=role))
        if not roles:  # leaving the tenant drops its duty roles too
            self.set_duty_roles(user, [])
        self.db.flush()

    def duty_roles(self, user_id: uuid.UUID) -> builtins.list[str]:
        """The tenant-config roles (e.g. 值班长) the member holds here, sorted."""
        return sorted(self.db.scalars(
            sa.select(DutyRole.role).where(DutyRole.user_id == user_id)))

    def set_duty_roles(self, user: User, roles: builtins.list[str]) -> None:
        """Make ``roles`` the member's tenant-config roles here."""
        current = {d.role: d for d in self.db.scalars(
            sa.select(DutyRole).where(DutyRole.user_id == user.id))}
        for role, row in current.items():
            if role not in roles:
                self.db.delete(row)
        for role in sorted(set(roles) - set(current)):
            self.db.add(DutyRole(user_id=user.id, role=role))
        self.db.flush()

    def belongs_elsewhere(self, user: User) -> bool:
        """Whether the account is also a member of another tenant (then one tenant's admin
        must not change what the account is everywhere, such as its password)."""
        here = current_tenant_id(self.db)
        with cross_tenant(self.db):
            others = self.db.scalar(sa.select(sa.func.count()).select_from(Membership).where(
                Membership.user_id == user.id, Membership.tenant_id != here))
        return bool(others)
