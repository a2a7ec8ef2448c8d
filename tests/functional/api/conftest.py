"""Fixtures for API tests: actors (a user of a tenant with a browser session and a bearer
token), a populated tenant ("world"), and a snapshot of everything a tenant owns."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.platform.identity.models import Role, User
from kefu.platform.tenancy.models import Tenant
from tests.factories import Factory, TokenClient, WebClient


def load_operations() -> list[Any]:
    """Every declared API operation (importing the resource modules registers them)."""
    from kefu.platform.api import RESOURCES
    from kefu.platform.api.framework import OPERATIONS

    for name in RESOURCES:
        importlib.import_module(f"kefu.platform.api.{name}")
    return list(OPERATIONS)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Any:
    """Argon2id with its smallest cost: these tests create hundreds of users and logins, and
    what they test is the API, not the hash's strength (passwords have their own tests)."""
    from argon2 import PasswordHasher

    from kefu.platform.identity import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = getattr(passwords, "_dummy_hash", None)  # cached: made with the hasher in force
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheap)
        if hasattr(dummy, "cache_clear"):
            dummy.cache_clear()
        yield
    if hasattr(dummy, "cache_clear"):
        dummy.cache_clear()


@dataclass
class Actor:
    tenant: Tenant
    user: User
    web: WebClient
    bearer: TokenClient

    def clients(self) -> list[Any]:
        return [self.web, self.bearer]


@pytest.fixture
def actor(factory: Factory, web: Any, wsgi_app: Any) -> Callable[..., Actor]:
    """``actor(tenant=None, *roles)`` → a new user of ``tenant`` (a new tenant when None),
    logged in with a session and holding an API token."""

    def make(tenant: Tenant | None = None, *roles: Role) -> Actor:
        tenant = tenant or factory.tenant()
        user = factory.user(tenant, *(roles or (Role.ADMIN,)))
        return Actor(tenant, user, web(user), TokenClient(wsgi_app, factory.token(user, tenant)))

    return make


@pytest.fixture
def alice(actor: Callable[..., Actor]) -> Actor:
    """The admin of tenant A."""
    return actor()


@pytest.fixture
def bob(actor: Callable[..., Actor]) -> Actor:
    """The admin of tenant B."""
    return actor()


@dataclass
class World:
    """One of each record of a tenant, made through its API; ``ids`` by path parameter name."""

    owner: Actor
    ids: dict[str, str] = field(default_factory=dict)
    member: User | None = None


def _attach(factory: Factory, owner: Actor, message_id: str) -> str:
    """A photo on the world's message, as a channel stores one (no API creates attachments)."""
    import uuid

    from kefu.platform.interactions.models import Attachment
    from kefu.platform.messaging.attachments import AttachmentStore

    platform = factory.platform
    stored = AttachmentStore.from_settings(platform.settings).put(
        b"\x89PNG\r\n\x1a\n meter photo", "meter.png", "image/png")
    with platform.session(owner.tenant.id) as db:
        row = Attachment(message_id=uuid.UUID(message_id), filename="meter.png",
                         content_type="image/png", size=stored.size, sha256=stored.sha256,
                         storage_ref=stored.storage_ref)
        db.add(row)
        db.commit()
        return str(row.id)


def build_world(owner: Actor, factory: Factory) -> World:
    api = owner.bearer.api
    world = World(owner)
    member = factory.user(owner.tenant, Role.AGENT, password=None)
    world.member = member
    ids = world.ids
    ids["tenant_id"] = str(owner.tenant.id)
    ids["user_id"] = str(member.id)
    ids["token_id"] = api("POST", "/tokens", {"name": "spare"}, status=201).json["id"]
    ids["customer_id"] = api("POST", "/customers", {
        "name": "Wang Fang", "phones": [{"number": "+86 10 5555 0101"}],
        "emails": [{"address": "wang@example.com"}]}, status=201).json["id"]
    ids["agent_id"] = api("POST", "/agents", {
        "display_name": "Li Na", "user_id": str(member.id), "extension": "8001",
        "skills": [{"skill": "billing", "level": 7}]}, status=201).json["id"]
    ids["interaction_id"] = api("POST", "/interactions", {
        "channel": "sms", "direction": "inbound", "customer_id": ids["customer_id"],
        "agent_id": ids["agent_id"], "external_id": "sms-1"}, status=201).json["id"]
    ids["message_id"] = api("POST", f"/interactions/{ids['interaction_id']}/messages", {
        "direction": "inbound", "body_text": "my meter is broken", "external_id": "m-1"},
        status=201).json["id"]
    ids["attachment_id"] = _attach(factory, owner, ids["message_id"])
    ids["ticket_id"] = api("POST", "/tickets", {
        "type": "repair", "subject": "Broken meter", "customer_id": ids["customer_id"],
        "interaction_id": ids["interaction_id"], "assignee_agent_id": ids["agent_id"]},
        status=201).json["id"]
    api("POST", f"/tickets/{ids['ticket_id']}/comments", {"comment": "on our way"}, status=201)
    ids["article_id"] = api("POST", "/knowledge/articles", {
        "title": "Meter readings", "body": "Read the meter monthly.", "locale": "en",
        "published": True}, status=201).json["id"]
    ids["form"] = "repair"  # a form name: forms live in the deployed config
    ids["config_id"] = api("POST", "/configs", {
        "files": {"tenant.kefu": "tenant demo\n"}, "message": "first"}, status=201).json["id"]
    return world


@pytest.fixture
def bob_world(bob: Actor, factory: Factory) -> World:
    return build_world(bob, factory)


def snapshot(factory: Factory, tenant: Tenant) -> dict[str, Any]:
    """Every row the tenant owns (every table with a tenant_id, the audit log included), its
    tenant row and its members' user rows, read directly from the database."""
    from kefu.platform.db import Base
    from kefu.platform.identity.models import Membership

    engine = factory.platform.engine
    rows: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if "tenant_id" in table.c:
                query = sa.select(table).where(table.c.tenant_id == tenant.id)
            elif table.name == "tenants":
                query = sa.select(table).where(table.c.id == tenant.id)
            elif table.name == "users":
                members = sa.select(Membership.__table__.c.user_id).where(
                    Membership.__table__.c.tenant_id == tenant.id)
                query = sa.select(table).where(table.c.id.in_(members))
            else:
                continue
            order = list(table.primary_key.columns)
            result = connection.execute(query.order_by(*order)).mappings().all()
            rows[table.name] = [dict(r) for r in result]
    return rows


def error(response: Any) -> dict[str, Any]:
    """The error object of a JSON error response."""
    assert response.content_type == "application/json", response.text
    return response.json["error"]  # type: ignore[no-any-return]


def error_fields(response: Any) -> list[str]:
    return [f["field"] for f in error(response).get("fields", [])]
