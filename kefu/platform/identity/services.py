"""Users, memberships, login sessions and API tokens.

Identity is resolved before the tenant is known, so lookups here run under ``cross_tenant``:
they are the few platform-level reads the scoping mechanism allows by name.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.db import utcnow
from kefu.platform.identity.models import ApiToken, LoginSession, Membership, Role, User
from kefu.platform.identity.passwords import hash_password, needs_rehash, verify_password
from kefu.platform.identity.permissions import Permission, permissions_for
from kefu.platform.tenancy.models import Tenant, TenantStatus
from kefu.platform.tenancy.scope import cross_tenant

SESSION_TOKEN_BYTES = 32
API_TOKEN_PREFIX = "kefu_"  # noqa: S105 - a marker that lets secret scanners spot tokens


class IdentityError(ValueError):
    """A user, membership or token request that cannot be carried out (the message says why)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise IdentityError(f"{email!r} is not an email address")
    return email


@dataclass(frozen=True)
class Identity:
    """Who is making a request, in which tenant, and what they may do there."""

    user_id: uuid.UUID
    email: str
    display_name: str
    tenant_id: uuid.UUID | None
    roles: frozenset[Role]
    permissions: frozenset[Permission]
    is_superuser: bool
    # "session" (browser cookie: CSRF applies) or "token" (bearer token: no ambient credential).
    via: str
    credential_id: uuid.UUID

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


class IdentityService:
    def __init__(self, session: Session) -> None:
        self.db = session

    # -- users and memberships -------------------------------------------------------------

    def create_user(
        self, email: str, display_name: str, password: str | None, *, superuser: bool = False
    ) -> User:
        email = normalize_email(email)
        if self.db.scalar(sa.select(User.id).where(User.email == email)) is not None:
            raise IdentityError(f"a user with email {email} already exists")
        user = User(
            email=email,
            display_name=display_name.strip() or email,
            password_hash=hash_password(password) if password else None,
            is_superuser=superuser,
        )
        self.db.add(user)
        self.db.flush()  # assigns nothing new (ids are client-side) but surfaces constraint errors
        return user

    def user(self, user_id: uuid.UUID) -> User | None:
        return self.db.get(User, user_id)

    def user_by_email(self, email: str) -> User | None:
        return self.db.scalar(sa.select(User).where(User.email == email.strip().lower()))

    def set_password(self, user: User, password: str) -> None:
        user.password_hash = hash_password(password)

    def grant(self, user: User, tenant_id: uuid.UUID, role: Role) -> Membership:
        """Give ``user`` ``role`` in the tenant (idempotent)."""
        with cross_tenant(self.db):
            existing = self.db.scalar(sa.select(Membership).where(
                Membership.user_id == user.id, Membership.tenant_id == tenant_id,
                Membership.role == role))
            if existing is not None:
                return existing
            membership = Membership(user_id=user.id, tenant_id=tenant_id, role=role)
            self.db.add(membership)
            self.db.flush()
        return membership

    def roles_in(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> frozenset[Role]:
        with cross_tenant(self.db):
            rows = self.db.scalars(sa.select(Membership.role).where(
                Membership.user_id == user_id, Membership.tenant_id == tenant_id))
            return frozenset(rows)

    def tenants_of(self, user: User) -> list[Tenant]:
        """Tenants the user may work in: their memberships, or every tenant for operators."""
        query = sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.name)
        if not user.is_superuser:
            with cross_tenant(self.db):
                member_of = sa.select(Membership.tenant_id).where(Membership.user_id == user.id)
                return list(self.db.scalars(query.where(Tenant.id.in_(member_of))))
        return list(self.db.scalars(query))

    # -- passwords and login sessions ----------------------------------------------------

    def authenticate(self, email: str, password: str) -> User | None:
        """The active user with this email and password, or None (same timing either way)."""
        user = self.user_by_email(email)
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            return None
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return user

    def start_session(
        self,
        user: User,
        tenant_id: uuid.UUID | None,
        *,
        max_age: int,
        remote_addr: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, LoginSession]:
        """Open a login session; returns the cookie token (shown once) and the row."""
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        now = utcnow()
        row = LoginSession(
            token_hash=token_hash(token),
            user_id=user.id,
            tenant_id=tenant_id,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=max_age),
            remote_addr=remote_addr,
            user_agent=(user_agent or "")[:300] or None,
        )
        user.last_login_at = now
        self.db.add(row)
        return token, row

    def resolve_session(self, token: str, *, max_age: int) -> LoginSession | None:
        row = self.db.scalar(sa.select(LoginSession).where(
            LoginSession.token_hash == token_hash(token)))
        now = utcnow()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        # Sliding expiry, written at most once a minute so page loads do not all write.
        if now - row.last_seen_at > timedelta(seconds=60):
            row.last_seen_at = now
            row.expires_at = now + timedelta(seconds=max_age)
        return row

    def end_session(self, session_id: uuid.UUID) -> None:
        row = self.db.get(LoginSession, session_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()

    def end_all_sessions(self, user_id: uuid.UUID) -> int:
        """Revoke every open login of a user (forced logout, password change)."""
        result = self.db.execute(
            sa.update(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- API tokens ------------------------------------------------------------------------

    def create_api_token(
        self, user: User, tenant_id: uuid.UUID, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ApiToken]:
        if not user.is_superuser and not self.roles_in(user.id, tenant_id):
            raise IdentityError(f"{user.email} is not a member of that tenant")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(
            tenant_id=tenant_id,
            user_id=user.id,
            name=name.strip()[:100] or "token",
            prefix=token[:12],
            token_hash=token_hash(token),
            expires_at=expires_at,
        )
        with cross_tenant(self.db):
            self.db.add(row)
            self.db.flush()
        return token, row

    def api_tokens(self, user_id: uuid.UUID) -> list[ApiToken]:
        """The user's tokens in the session's tenant, oldest first."""
        return list(self.db.scalars(sa.select(ApiToken).where(ApiToken.user_id == user_id)
                                    .order_by(ApiToken.created_at)))

    def revoke_api_token(self, user_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken | None:
        """Revoke one of the user's tokens in the session's tenant; None if there is none."""
        row = self.db.scalar(sa.select(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.id == token_id))
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
        return row

    def resolve_api_token(self, token: str) -> ApiToken | None:
        with cross_tenant(self.db):
            row = self.db.scalar(sa.select(ApiToken).where(
                ApiToken.token_hash == token_hash(token)))
        now = utcnow()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=60):
            row.last_used_at = now
        return row

    # -- putting it together ---------------------------------------------------------------

    def identity_for(
        self, user: User, tenant_id: uuid.UUID | None, via: str, credential_id: uuid.UUID
    ) -> Identity | None:
        """The identity of an active user in a tenant they belong to (operators: any tenant)."""
        if not user.is_active:
            return None
        roles: frozenset[Role] = frozenset()
        if tenant_id is not None:
            roles = self.roles_in(user.id, tenant_id)
            tenant = self.db.get(Tenant, tenant_id)
            if tenant is None or tenant.status != TenantStatus.ACTIVE:
                tenant_id, roles = None, frozenset()
            elif not roles and not user.is_superuser:
                tenant_id = None  # membership was removed since the session started
        return Identity(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            tenant_id=tenant_id,
            roles=roles,
            permissions=permissions_for(roles, superuser=user.is_superuser),
            is_superuser=user.is_superuser,
            via=via,
            credential_id=credential_id,
        )
