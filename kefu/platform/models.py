"""Every model, imported in one place so ``Base.metadata`` is complete for Alembic and tests."""

from kefu.platform.agents.models import Agent, AgentSkill
from kefu.platform.audit.models import AuditEntry
from kefu.platform.automation.models import AutomationEvent, Notification, RuleFiring  # noqa: F401
from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.db import Base
from kefu.platform.flows.models import FlowSession  # noqa: F401
from kefu.platform.identity.models import ApiToken, LoginSession, Membership, Role, User
from kefu.platform.interactions.models import (
    Attachment,
    Channel,
    Direction,
    Interaction,
    InteractionEvent,
    InteractionState,
    Message,
    MessageStatus,
    Outcome,
)
from kefu.platform.jobs.models import JobRun
from kefu.platform.knowledge.models import Article, KnowledgeTerm  # noqa: F401
from kefu.platform.messaging.models import ChannelBinding  # noqa: F401
from kefu.platform.tenancy.models import Tenant, TenantStatus
from kefu.platform.tickets.models import Priority, Ticket, TicketEvent
from kefu.platform.voice.models import CallRecording  # noqa: F401

__all__ = [
    "Agent", "AgentSkill", "ApiToken", "Attachment", "AuditEntry", "Base", "Channel",
    "ConfigStatus", "ConfigVersion", "Customer", "CustomerEmail", "CustomerPhone", "Direction",
    "Interaction", "InteractionEvent", "InteractionState", "JobRun", "LoginSession", "Membership",
    "Message",
    "MessageStatus", "Outcome", "Priority", "Role", "Tenant", "TenantStatus", "Ticket",
    "TicketEvent", "User",
]
