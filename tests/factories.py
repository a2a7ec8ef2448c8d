"""Test data builders that go through kefu's own services and commit for real."""

from __future__ import annotations

import functools
import itertools
import uuid
from typing import Any

from webtest import TestApp

from kefu.platform.identity.models import Role, User
from kefu.platform.identity.passwords import hash_password
from kefu.platform.identity.services import IdentityService
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.services import TenantService

_counter = itertools.count(1)


@functools.cache
def _hash_of(password: str) -> str:
    # Argon2 is slow by design (~0.3 s here); tests reuse one real hash per password.
    return hash_password(password)


class Factory:
    PASSWORD = "correct horse battery"

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def tenant(self, slug: str | None = None, name: str | None = None) -> Tenant:
        slug = slug or f"tenant-{next(_counter)}"
        with self.platform.session() as db:
            tenant = TenantService(db).create(slug, name or slug.title())
            db.commit()
            return tenant

    def user(self, tenant: Tenant | None = None, *roles: Role, email: str | None = None,
             superuser: bool = False, password: str | None = PASSWORD) -> User:
        email = email or f"user{next(_counter)}@example.test"
        with self.platform.session() as db:
            service = IdentityService(db)
            user = service.create_user(email, email.split("@")[0].title(), None,
                                       superuser=superuser)
            user.password_hash = _hash_of(password) if password else None
            for role in roles or ((Role.ADMIN,) if tenant else ()):
                service.grant(user, tenant.id, role)  # type: ignore[union-attr]
            db.commit()
            return user

    def token(self, user: User, tenant: Tenant, name: str = "test") -> str:
        with self.platform.session() as db:
            secret, _row = IdentityService(db).create_api_token(
                db.get(User, user.id), tenant.id, name)
            db.commit()
            return secret

    def session(self, tenant: Tenant | uuid.UUID | None = None) -> Any:
        """A database session scoped to ``tenant`` (for arranging and asserting rows)."""
        tenant_id = tenant.id if isinstance(tenant, Tenant) else tenant
        return self.platform.session(tenant_id)


class WebClient(TestApp):
    """A WebTest client that sends the CSRF header the way kefu's own pages do."""

    def login(self, email: str, password: str) -> None:
        form = self.get("/login").forms[0]
        form["email"] = email
        form["password"] = password
        response = form.submit()
        assert response.status_int == 303, response.text

    @property
    def csrf(self) -> dict[str, str]:
        if "kefu_csrf" not in self.cookies:
            self.get("/login")
        return {"X-CSRF-Token": self.cookies["kefu_csrf"]}

    def api(self, method: str, path: str, json: Any = None, *, status: int | str | None = None,
            headers: dict[str, str] | None = None) -> Any:
        """Call /api/v1{path} with JSON; returns the WebTest response."""
        all_headers = {**(self.csrf if method.upper() != "GET" else {}), **(headers or {})}
        url = "/api/v1" + path
        method = method.upper()
        if method == "GET":
            return self.get(url, headers=all_headers, status=status)
        call = getattr(self, f"{method.lower()}_json")
        return call(url, json if json is not None else {}, headers=all_headers, status=status)


class TokenClient(TestApp):
    """A machine client with a bearer token and no cookies."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    def api(self, method: str, path: str, json: Any = None, *, status: int | str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = "/api/v1" + path
        if method.upper() == "GET":
            return self.get(url, headers=headers, status=status)
        return getattr(self, f"{method.lower()}_json")(url, json if json is not None else {},
                                                      headers=headers, status=status)
