"""Agent actions beyond answering offers: transferring an interaction back into a flow and
starting an outbound message. (Transfers to an agent or a queue are the ACD's:
:meth:`RoutingService.offer_to_agent` and :meth:`RoutingService.enqueue`.)"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.agents.models import Agent
from kefu.platform.configs.cache import LoadedConfig
from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.flows.models import FlowSession, FlowStatus
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import (
    DSL_KINDS,
    Channel,
    Direction,
    Interaction,
    Message,
)
from kefu.platform.messaging.bindings import normalize_address
from kefu.platform.messaging.outbound import Outbox
from kefu.platform.routing.service import RoutingService
from kefu.runtime.lifecycle import State, Trigger

if TYPE_CHECKING:
    from kefu.platform.context import Platform

#: Channels whose flows run in kefu's flow host (calls run theirs in the voice channel).
TEXT_FLOW_CHANNELS = frozenset({Channel.CHAT, Channel.SMS, Channel.EMAIL})
#: Channels an agent may start an outbound message on.
OUTBOUND_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL})


class ActionRefused(Exception):
    """The action does not fit the interaction or the tenant's config; the message says why
    and ``field`` names the request field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _version(platform: Platform, tenant_id: uuid.UUID, interaction: Interaction
             ) -> LoadedConfig | None:
    if interaction.config_version_id is not None:
        try:
            return platform.configs.for_version(tenant_id, interaction.config_version_id)
        except LookupError:
            pass
    return platform.configs.deployed(tenant_id)


def channel_flow(loaded: LoadedConfig, interaction: Interaction) -> str | None:
    """The flow the config declares for the interaction's channel and address."""
    kind = DSL_KINDS[interaction.channel]
    ofkind = [c for c in loaded.config.channels if c.kind == kind]
    exact = next((c for c in ofkind if c.address == interaction.to_address), None)
    declared = exact or next((c for c in ofkind if c.flow), None)
    return declared.flow if declared is not None else None


def transfer_to_flow(platform: Platform, db: Session, tenant_id: uuid.UUID,
                     interaction: Interaction, flow: str | None) -> str:
    """Send a connected text interaction back into a flow (``flow``, default the one its
    channel declares): the agent is released without wrap-up and the flow starts again from
    its first step on the version the interaction started on. Returns the flow's name.

    Raises:
        ActionRefused: not a text channel, not connected, or no such flow.
    """
    if interaction.channel not in TEXT_FLOW_CHANNELS:
        raise ActionRefused(f"a {interaction.channel.value} interaction cannot be sent into a "
                            "flow from the portal; its channel runs its own flows", "flow")
    if interaction.state != State.CONNECTED:
        raise ActionRefused(f"only a connected interaction can be transferred; this one is "
                            f"{interaction.state.value}")
    loaded = _version(platform, tenant_id, interaction)
    if loaded is None:
        raise ActionRefused("the tenant has no deployed config, so there are no flows", "flow")
    name = flow or channel_flow(loaded, interaction)
    flows = sorted(f.id for f in loaded.config.flows)
    if name is None:
        raise ActionRefused(f"no flow is declared for this {DSL_KINDS[interaction.channel]} "
                            f"channel; name one of: {', '.join(flows) or 'none'}", "flow")
    if name not in flows:
        raise ActionRefused(f"no flow {name!r} in the config; flows: "
                            f"{', '.join(flows) or 'none'}", "flow")
    from kefu.platform.flows.service import FlowHost

    # One flow session per interaction: the finished one makes way for the new run.
    old = db.scalar(sa.select(FlowSession).where(FlowSession.interaction_id == interaction.id))
    if old is not None:
        if old.status == FlowStatus.RUNNING:
            raise ActionRefused("the interaction's flow is still running")
        db.delete(old)
        db.flush()
    RoutingService(platform, db, tenant_id).to_flow(interaction, name)
    FlowHost(platform, db, tenant_id).start(interaction, name)
    return name


def _customer(db: Session, channel: Channel, address: str) -> Customer:
    """The customer with this address, or a new one named by it (as a first message from
    the address would make): the answer then finds its way back to this conversation."""
    if channel == Channel.EMAIL:
        row = db.scalar(sa.select(CustomerEmail).where(
            sa.func.lower(CustomerEmail.address) == address.lower()).limit(1))
        if row is not None:
            return row.customer
        customer = Customer(name=address[:200])
        customer.emails.append(CustomerEmail(address=address[:254]))
    else:
        phone = db.scalar(sa.select(CustomerPhone).where(
            CustomerPhone.number == normalize_address("sms", address)).limit(1))
        if phone is not None:
            return phone.customer
        customer = Customer(name=address[:200])
        customer.phones.append(CustomerPhone(number=address[:32]))
    db.add(customer)
    db.flush()
    return customer


def start_outbound(platform: Platform, db: Session, tenant_id: uuid.UUID, agent: Agent, *,
                   channel: Channel, to: str, text: str, subject: str | None,
                   customer_id: uuid.UUID | None = None) -> tuple[Interaction, Message]:
    """An agent writes first: a new outbound interaction held by ``agent`` (connected from
    the start) and its first message, queued in the outbox for the channel's sender. The
    sending address is the tenant's first declared address of the channel; the customer is
    ``customer_id``, else the one with this address, else a new one with it.

    Raises:
        ActionRefused: a channel without outbound messages, or one the config declares no
            address for.
    """
    if channel not in OUTBOUND_CHANNELS:
        raise ActionRefused(f"outbound messages go by sms or email, not {channel.value}",
                            "channel")
    kind = DSL_KINDS[channel]
    loaded = platform.configs.deployed(tenant_id)
    declared = [c for c in loaded.config.channels if c.kind == kind] if loaded else []
    if not declared:
        raise ActionRefused(f"the tenant's config declares no {kind} channel to send from",
                            "channel")
    to = normalize_address(kind, to)
    customer = (db.get(Customer, customer_id) if customer_id is not None else None) \
        or _customer(db, channel, to)
    interaction = Interaction(
        channel=channel, direction=Direction.OUTBOUND, state=State.CREATED,
        customer_id=customer.id, agent_id=agent.id,
        from_address=declared[0].address, to_address=to, subject=subject,
        config_version_id=loaded.version_id if loaded else None,
        data={"started_by": "agent"})
    db.add(interaction)
    db.flush()
    InteractionLifecycle(db, platform.bus).apply(
        interaction, Trigger.CONNECT, data={"agent_id": str(agent.id)})
    message = Outbox(platform, db).reply(interaction, text, agent_id=agent.id, subject=subject)
    customer.last_contact_at = message.created_at
    return interaction, message
