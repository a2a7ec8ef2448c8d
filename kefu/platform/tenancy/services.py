"""Creating and finding tenants (platform-level: runs across tenants by design)."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.tenancy.models import Tenant

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class TenantError(ValueError):
    pass


class TenantService:
    def __init__(self, session: Session) -> None:
        self.db = session

    def create(self, slug: str, name: str, *, time_zone: str = "UTC",
               default_locale: str = "en") -> Tenant:
        slug = slug.strip().lower()
        if not SLUG_RE.match(slug):
            raise TenantError(
                f"tenant slug {slug!r} must be 1-63 lower-case letters, digits or hyphens"
            )
        if self.by_slug(slug) is not None:
            raise TenantError(f"a tenant with slug {slug!r} already exists")
        check_time_zone(time_zone)
        tenant = Tenant(slug=slug, name=name.strip() or slug, time_zone=time_zone,
                        default_locale=default_locale)
        self.db.add(tenant)
        self.db.flush()
        return tenant

    def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return self.db.get(Tenant, tenant_id)

    def by_slug(self, slug: str) -> Tenant | None:
        return self.db.scalar(sa.select(Tenant).where(Tenant.slug == slug.strip().lower()))

    def all(self) -> list[Tenant]:
        return list(self.db.scalars(sa.select(Tenant).order_by(Tenant.name)))


def check_time_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TenantError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)") \
            from None
