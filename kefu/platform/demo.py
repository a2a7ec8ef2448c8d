"""The demo tenant the README's run command loads: people, agents and customers to click
through, plus the tenant's DSL config from ``tenants/demo/`` when present. Loading is
idempotent: running it again changes nothing that is already there."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.agents.models import Agent, AgentSkill
from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.identity.models import Role
from kefu.platform.identity.services import IdentityService
from kefu.platform.tenancy.models import Tenant
from kefu.platform.tenancy.scope import bind_tenant
from kefu.platform.tenancy.services import TenantService

log = logging.getLogger("kefu.demo")

DEMO_SLUG = "demo"
# Known on purpose: the demo runs on 127.0.0.1 for someone trying kefu out.
DEMO_PASSWORD = "kefu-demo-password"  # noqa: S105

DEMO_USERS: tuple[tuple[str, str, tuple[Role, ...], bool], ...] = (
    ("operator@kefu.example", "Platform Operator", (), True),
    ("admin@demo.example", "Ada Admin", (Role.ADMIN,), False),
    ("analyst@demo.example", "Anna Analyst 分析师", (Role.ANALYST, Role.DESIGNER), False),
    ("supervisor@demo.example", "Sam Supervisor 班长", (Role.SUPERVISOR, Role.AGENT), False),
    ("agent1@demo.example", "Li Wei 李伟", (Role.AGENT,), False),
    ("agent2@demo.example", "Emma Jones", (Role.AGENT,), False),
)
DEMO_AGENTS = {
    "supervisor@demo.example": ("8000", "support", {"billing": 8, "repair": 8, "mandarin": 9}),
    "agent1@demo.example": ("8001", "support", {"billing": 6, "mandarin": 10, "english": 5}),
    "agent2@demo.example": ("8002", "support", {"repair": 7, "english": 10}),
}
DEMO_CUSTOMERS = (
    ("Zhang San 张三", "+8613800138000", "zhangsan@example.com", True, False, "Chaoyang point"),
    ("Mary Smith", "+14155550123", "mary@example.com", False, False, "Downtown point"),
    ("Nuisance Caller", "+8613900000000", None, False, True, None),
)
# Knowledge-base articles (title = the customer's question), published, for the portal's
# search and the FAQ auto-answers.
DEMO_ARTICLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("What should I do if I smell gas?",
     "Leave the building now, do not use switches or flames, and call our emergency line "
     "0800 111 999 from outside. An engineer comes within the hour, day and night.",
     ("safety", "emergency")),
    ("How do I submit a meter reading?",
     "Reply to this message with your eight-digit account number and the reading, or key it "
     "in on the phone line (option 1). Readings before the 25th go on this month's bill.",
     ("meter", "billing")),
    ("How can I pay my gas bill?",
     "By direct debit, bank transfer to the account on your bill, or by card on the phone "
     "line. Direct debit customers get a 5% discount.",
     ("billing", "payment")),
    ("What are your opening hours?",
     "Our contact centre is open Monday to Friday 08:00-18:00 and Saturday 09:00-12:00. "
     "Gas emergencies are answered 24 hours a day.",
     ("general",)),
    ("How do I book a boiler repair?",
     "Call us or reply with your address and what is wrong; we open a repair ticket and an "
     "engineer calls you back with a time within one working day.",
     ("repair",)),
)


@dataclass(frozen=True)
class DemoResult:
    tenant: Tenant
    created: bool
    config_files: int


def load_demo(db: Session, tenants_dir: Path | None = None) -> DemoResult:
    """Create the demo tenant and its people if missing; commit is the caller's."""
    tenants = TenantService(db)
    tenant = tenants.by_slug(DEMO_SLUG)
    created = tenant is None
    if tenant is None:
        tenant = tenants.create(DEMO_SLUG, "Demo Contact Center 示例客服中心",
                                time_zone="Asia/Shanghai")
    identity = IdentityService(db)
    users = {}
    for email, name, roles, superuser in DEMO_USERS:
        user = identity.user_by_email(email) or identity.create_user(
            email, name, DEMO_PASSWORD, superuser=superuser)
        users[email] = user
        for role in roles:
            identity.grant(user, tenant.id, role)
    bind_tenant(db, tenant.id)
    for email, (extension, team, skills) in DEMO_AGENTS.items():
        user = users[email]
        if db.scalar(sa.select(Agent.id).where(Agent.user_id == user.id)) is None:
            db.add(Agent(user_id=user.id, display_name=user.display_name, extension=extension,
                         team=team, skills=[AgentSkill(skill=s, level=lvl)
                                            for s, lvl in skills.items()]))
    for name, phone, contact_email, vip, blacklisted, point in DEMO_CUSTOMERS:
        if db.scalar(sa.select(Customer.id).where(Customer.name == name)) is None:
            db.add(Customer(
                name=name, is_vip=vip, is_blacklisted=blacklisted, service_point=point,
                blacklist_reason="repeated abusive calls" if blacklisted else None,
                phones=[CustomerPhone(number=phone, label="mobile")],
                emails=[CustomerEmail(address=contact_email)] if contact_email else [],
            ))
    db.flush()
    _seed_articles(db, users["supervisor@demo.example"].id)
    config_files = _store_demo_config(db, tenant, tenants_dir, users["analyst@demo.example"].id)
    return DemoResult(tenant=tenant, created=created, config_files=config_files)


def _seed_articles(db: Session, author_id: uuid.UUID) -> None:
    from kefu.platform.knowledge.models import Article
    from kefu.platform.knowledge.services import KnowledgeService

    service = KnowledgeService(db)
    for title, body, tags in DEMO_ARTICLES:
        if db.scalar(sa.select(Article.id).where(Article.title == title)) is None:
            service.create({"title": title, "body": body, "tags": list(tags), "locale": "en",
                            "published": True}, author_id)


def _store_demo_config(db: Session, tenant: Tenant, tenants_dir: Path | None,
                       author_id: uuid.UUID) -> int:
    """Store ``tenants/demo/**/*.kefu`` as a config version and deploy it, once."""
    from kefu.dsl.loader import read_sources

    directory = (tenants_dir or default_tenants_dir()) / DEMO_SLUG
    if not directory.is_dir():
        return 0
    files, _entry = read_sources(directory)
    try:
        from kefu.platform.configs.services import ConfigService
    except ImportError:  # pragma: no cover - the config service ships with the platform
        return 0
    service = ConfigService(db)
    if service.deployed() is None:
        version = service.store(files, "demo tenant", author_id)
        if version.status.value == "valid":
            service.deploy(version.id)
        else:
            log.warning("demo config has errors; not deployed: %s", version.diagnostics[:3])
    return len(files)


def default_tenants_dir() -> Path:
    """``tenants/`` of the source checkout (the demo config ships beside the code)."""
    return Path(__file__).resolve().parents[2] / "tenants"
