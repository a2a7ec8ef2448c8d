"""/api/v1/interactions/{id}/screen-pop: everything an agent needs the moment a contact is
offered — who it is (caller number, mailbox, SMS number or chat visitor), their customer
record with VIP and blacklist marks, where the number is from, their history on every
channel, their open tickets, and for an unknown contact the tenant's new-customer form
(``customer_form`` in the DSL ``tenant`` block) prefilled with what the contact told."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pyramid.request import Request
from sqlalchemy.orm import Session

from kefu.platform.api.context import tenant_id
from kefu.platform.api.customers import CustomerOut
from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Out
from kefu.platform.automation.configs import deployed
from kefu.platform.customers import location
from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.customers.services import CustomerService, normalize_phone
from kefu.platform.identity.permissions import Permission
from kefu.platform.interactions.models import Channel, Direction, Interaction, Message
from kefu.platform.tickets.models import Ticket

#: How many past interactions the screen pop shows (newest first).
HISTORY_LIMIT = 50
EXCERPT_CHARS = 200
FREE_FORM_FINALS = frozenset({"closed", "resolved", "done", "cancelled"})
_KINDS = {Channel.VOICE: "phone", Channel.FAX: "phone", Channel.EMAIL: "email",
          Channel.SMS: "sms", Channel.CHAT: "chat", Channel.KIOSK: "chat"}
# Form field types that take the contact's address, by identity kind.
_PREFILL_TYPES = {"phone": ("phone",), "sms": ("phone",), "email": ("email",), "chat": ()}


class IdentityOut(BaseModel):
    kind: str
    address: str | None


class MarksOut(BaseModel):
    vip: bool
    blacklisted: bool
    blacklist_reason: str | None


class LocationOut(BaseModel):
    country: str
    country_code: str
    region: str | None
    city: str | None
    carrier: str | None
    line: str | None
    e164: str


class HistoryItemOut(Out):
    id: uuid.UUID
    channel: str
    direction: str
    state: str
    subject: str | None
    started: datetime
    ended_at: datetime | None
    queue: str | None
    disposition: str | None
    last_message: str | None
    current: bool


class OpenTicketOut(BaseModel):
    id: uuid.UUID
    number: int
    workflow: str
    state: str
    title: str
    priority: str
    sla_due: datetime | None


class NewCustomerFormOut(BaseModel):
    form: str
    prefill: dict[str, Any]


class ScreenPopOut(BaseModel):
    interaction_id: uuid.UUID
    identity: IdentityOut
    customer: CustomerOut | None
    marks: MarksOut
    location: LocationOut | None
    history: list[HistoryItemOut]
    open_tickets: list[OpenTicketOut]
    new_customer_form: NewCustomerFormOut | None


def _address(interaction: Interaction) -> str | None:
    """The contact's side: who called or wrote in, or whom we called or wrote to."""
    if interaction.direction == Direction.OUTBOUND:
        return interaction.to_address or interaction.from_address
    return interaction.from_address or interaction.to_address


def _find_customer(db: Session, kind: str, address: str | None,
                   country: str | None) -> Customer | None:
    if not address:
        return None
    if kind in ("phone", "sms"):
        numbers = {normalize_phone(address)}
        e164 = location.to_e164(address, country)
        if e164:
            numbers.add(e164)
            home = location.CALLING_CODE.get(country or "")
            if home and e164.startswith("+" + home):
                # Records typed in national format: 13800138000, 01065529988.
                national = e164[1 + len(home):]
                numbers |= {national, "0" + national}
        row = db.scalar(sa.select(CustomerPhone).where(CustomerPhone.number.in_(sorted(numbers)))
                        .order_by(CustomerPhone.number).limit(1))
        return CustomerService(db).get(row.customer_id) if row is not None else None
    if kind == "email":
        found = db.scalar(sa.select(CustomerEmail).where(
            CustomerEmail.address == address.strip().lower()).limit(1))
        return CustomerService(db).get(found.customer_id) if found is not None else None
    return None


def _history(db: Session, interaction: Interaction, customer: Customer | None,
             address: str | None) -> list[HistoryItemOut]:
    query = sa.select(Interaction).order_by(Interaction.created_at.desc(), Interaction.id.desc())
    if customer is not None:
        query = query.where(sa.or_(Interaction.id == interaction.id,
                                   Interaction.customer_id == customer.id))
    elif address:
        # Not known yet: earlier contacts from the same address.
        query = query.where(sa.or_(Interaction.id == interaction.id,
                                   Interaction.from_address == address,
                                   Interaction.to_address == address))
    else:
        query = query.where(Interaction.id == interaction.id)
    items = list(db.scalars(query.limit(HISTORY_LIMIT)))
    ids = [i.id for i in items]
    last: dict[uuid.UUID, str] = {}
    if ids:
        newest = (sa.select(Message.interaction_id, sa.func.max(Message.created_at).label("at"))
                  .where(Message.interaction_id.in_(ids)).group_by(Message.interaction_id)
                  .subquery())
        for interaction_id, text in db.execute(
                sa.select(Message.interaction_id, Message.body_text)
                .join(newest, sa.and_(Message.interaction_id == newest.c.interaction_id,
                                      Message.created_at == newest.c.at))
                .order_by(Message.id)):
            last[interaction_id] = _excerpt(text)
    return [HistoryItemOut(
        id=i.id, channel=i.channel.value, direction=i.direction.value, state=i.state.value,
        subject=i.subject, started=i.created_at, ended_at=i.ended_at, queue=i.queue,
        disposition=i.disposition, last_message=last.get(i.id), current=i.id == interaction.id)
        for i in items]


def _excerpt(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1] + "…"


def _open_tickets(db: Session, customer: Customer | None,
                  config: Any) -> list[OpenTicketOut]:
    if customer is None:
        return []
    finals = {w.id: set(w.finals) for w in config.workflows} if config is not None else {}
    tickets = db.scalars(sa.select(Ticket).where(Ticket.customer_id == customer.id,
                                                 Ticket.closed_at.is_(None))
                         .order_by(Ticket.created_at.desc()).limit(HISTORY_LIMIT))
    out = []
    for t in tickets:
        # Free-form tickets (no workflow in the config) end in a conventional state.
        if t.state in finals.get(t.type, FREE_FORM_FINALS):
            continue
        # The next deadline: the first response while none was given, else resolution.
        dues = [d for d in ((t.response_due_at if t.first_response_at is None else None),
                            t.resolve_due_at) if d is not None]
        out.append(OpenTicketOut(id=t.id, number=t.number, workflow=t.type, state=t.state,
                                 title=t.subject, priority=str(t.priority),
                                 sla_due=min(dues) if dues else None))
    return out


def _new_customer_form(config: Any, kind: str, address: str | None,
                       interaction: Interaction) -> NewCustomerFormOut | None:
    name = config.tenant.customer_form if config is not None else None
    form = next((f for f in config.forms if f.id == name), None) if name else None
    if form is None:
        return None
    known: dict[str, Any] = {}
    if address and kind in ("phone", "sms"):
        known["phone"] = address
    elif address and kind == "email":
        known["email"] = address
    # A chat visitor's pre-chat form (name, email, phone) is in the interaction's data.
    opened = ((interaction.data or {}).get("opened") or {}).get("variables") or {}
    chat_form = opened.get("form") if isinstance(opened.get("form"), dict) else opened
    for key in ("name", "email", "phone"):
        value = chat_form.get(key) if isinstance(chat_form, dict) else None
        if isinstance(value, str) and value.strip():
            known.setdefault(key, value.strip())
    prefill: dict[str, Any] = {}
    for field in form.fields:
        if field.type in ("phone", "email") and field.type in known:
            prefill.setdefault(field.id, known[field.type])
        elif field.id in known:
            prefill.setdefault(field.id, known[field.id])
        elif field.type == "text" and field.id in ("name", "full_name") and "name" in known:
            prefill.setdefault(field.id, known["name"])
    return NewCustomerFormOut(form=form.id, prefill=prefill)


def _tenant_country(request: Request, config: Any) -> str | None:
    zone = config.tenant.timezone if config is not None else None
    return (location.country_of_time_zone(zone)
            or location.country_of_time_zone(request.tenant.time_zone))


@api("/interactions/{interaction_id}/screen-pop", "GET",
     permission=Permission.INTERACTIONS_READ, tag="interactions",
     summary="The customer record to show when an interaction is offered (screen pop)",
     response=ScreenPopOut)
def screen_pop(request: Request, interaction_id: uuid.UUID) -> ScreenPopOut:
    db = request.db
    interaction = db.scalar(sa.select(Interaction).where(Interaction.id == interaction_id))
    if interaction is None:
        raise NotFound("interaction")
    loaded = deployed(db, request.platform.configs) if tenant_id(request) else None
    config = loaded.config if loaded is not None else None
    country = _tenant_country(request, config)
    kind = _KINDS[interaction.channel]
    address = _address(interaction)
    customer = (CustomerService(db).get(interaction.customer_id)
                if interaction.customer_id is not None else None)
    if customer is None:
        customer = _find_customer(db, kind, address, country)
    where = (location.locate(address, country)
             if address and kind in ("phone", "sms") else None)
    return ScreenPopOut(
        interaction_id=interaction.id,
        identity=IdentityOut(kind=kind, address=address),
        customer=CustomerOut.model_validate(customer) if customer is not None else None,
        marks=MarksOut(vip=bool(customer and customer.is_vip),
                       blacklisted=bool(customer and customer.is_blacklisted),
                       blacklist_reason=customer.blacklist_reason if customer else None),
        location=LocationOut(**where.as_dict()) if where is not None else None,
        history=_history(db, interaction, customer, address),
        open_tickets=_open_tickets(db, customer, config),
        new_customer_form=(_new_customer_form(config, kind, address, interaction)
                           if customer is None else None),
    )
