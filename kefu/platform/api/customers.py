"""/api/v1/customers: customer records, lookup by phone or email, contact history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import EmailStr, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.interactions import InteractionOut
from kefu.platform.api.schemas import Body, Out, Query, not_null
from kefu.platform.customers.services import CustomerService
from kefu.platform.identity.permissions import Permission

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Digits with the usual separators; at least three digits, so "---" is not a number.
PhoneNumber = Annotated[str, StringConstraints(
    min_length=3, max_length=32, pattern=r"^\+?[ ()./-]*(?:[0-9][ ()./-]*){3,}$")]


class PhoneIn(Body):
    number: PhoneNumber
    label: str | None = Field(None, max_length=50)


class EmailIn(Body):
    address: EmailStr
    label: str | None = Field(None, max_length=50)


class CustomerCreate(Body):
    name: Name
    company: str | None = Field(None, max_length=200)
    account_number: str | None = Field(None, max_length=64)
    locale: str | None = Field(None, max_length=16)
    is_vip: bool = False
    is_blacklisted: bool = False
    blacklist_reason: str | None = Field(None, max_length=500)
    service_point: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)
    notes: str = Field("", max_length=20000)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)
    emails: list[EmailIn] = Field(default_factory=list, max_length=20)


class CustomerUpdate(Body):
    name: Name | None = None
    company: str | None = Field(None, max_length=200)
    account_number: str | None = Field(None, max_length=64)
    locale: str | None = Field(None, max_length=16)
    is_vip: bool | None = None
    is_blacklisted: bool | None = None
    blacklist_reason: str | None = Field(None, max_length=500)
    service_point: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=20000)
    phones: list[PhoneIn] | None = Field(None, max_length=20)
    emails: list[EmailIn] | None = Field(None, max_length=20)

    _not_null = not_null("name", "is_vip", "is_blacklisted", "notes", "phones", "emails")


class PhoneOut(Out):
    number: str
    label: str | None


class EmailOut(Out):
    address: str
    label: str | None


class CustomerOut(Out):
    id: uuid.UUID
    name: str
    company: str | None
    account_number: str | None
    locale: str | None
    is_vip: bool
    is_blacklisted: bool
    blacklist_reason: str | None
    service_point: str | None
    address: str | None
    notes: str
    phones: list[PhoneOut]
    emails: list[EmailOut]
    last_contact_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CustomerQuery(Query):
    q: str | None = Field(None, max_length=200, description="name, company or account number")
    phone: str | None = Field(None, max_length=32, description="exact phone number (screen pop)")
    email: str | None = Field(None, max_length=254)
    vip: bool | None = None
    blacklisted: bool | None = None


def _split(body: Body, *, partial: bool) -> tuple[dict[str, Any], Any, Any]:
    data = body.model_dump(exclude_unset=partial)
    phones = data.pop("phones", None)
    emails = data.pop("emails", None)
    if not partial:
        phones, emails = phones or [], emails or []
    return data, phones, emails


def _load(request: Request, customer_id: uuid.UUID) -> Any:
    customer = CustomerService(request.db).get(customer_id)
    if customer is None:
        raise NotFound("customer")
    return customer


@api("/customers", "GET", permission=Permission.CUSTOMERS_READ, tag="customers",
     summary="Search customers", query=CustomerQuery, response=CustomerOut, list_response=True)
def list_customers(request: Request, query: CustomerQuery) -> Any:
    items, total = CustomerService(request.db).search(
        text=query.q, phone=query.phone, email=query.email, vip=query.vip,
        blacklisted=query.blacklisted, limit=query.limit, offset=query.offset)
    return [CustomerOut.model_validate(c) for c in items], total


@api("/customers", "POST", permission=Permission.CUSTOMERS_WRITE, tag="customers",
     summary="Create a customer", body=CustomerCreate, response=CustomerOut, status=201)
def create_customer(request: Request, body: CustomerCreate) -> CustomerOut:
    fields, phones, emails = _split(body, partial=False)
    customer = CustomerService(request.db).create(fields, phones, emails)
    audit_change(request, "customer.create", customer)
    return CustomerOut.model_validate(customer)


@api("/customers/{customer_id}", "GET", permission=Permission.CUSTOMERS_READ, tag="customers",
     summary="Get a customer", response=CustomerOut)
def get_customer(request: Request, customer_id: uuid.UUID) -> CustomerOut:
    return CustomerOut.model_validate(_load(request, customer_id))


@api("/customers/{customer_id}", "PATCH", permission=Permission.CUSTOMERS_WRITE,
     tag="customers", summary="Change a customer (only the fields sent)", body=CustomerUpdate,
     response=CustomerOut)
def update_customer(request: Request, customer_id: uuid.UUID, body: CustomerUpdate) -> CustomerOut:
    customer = _load(request, customer_id)
    fields, phones, emails = _split(body, partial=True)
    CustomerService(request.db).update(customer, fields, phones, emails)
    audit_change(request, "customer.update", customer, fields=sorted(body.model_fields_set))
    return CustomerOut.model_validate(customer)


@api("/customers/{customer_id}", "DELETE", permission=Permission.CUSTOMERS_WRITE,
     tag="customers", summary="Delete a customer")
def delete_customer(request: Request, customer_id: uuid.UUID) -> None:
    customer = _load(request, customer_id)
    audit_change(request, "customer.delete", customer, name=customer.name)
    CustomerService(request.db).delete(customer)


@api("/customers/{customer_id}/history", "GET", permission=Permission.INTERACTIONS_READ,
     tag="customers", summary="A customer's interactions across every channel, newest first",
     query=Query, response=InteractionOut, list_response=True)
def customer_history(request: Request, customer_id: uuid.UUID, query: Query) -> Any:
    _load(request, customer_id)
    items, total = CustomerService(request.db).history(customer_id, query.limit, query.offset)
    return [InteractionOut.model_validate(i) for i in items], total
