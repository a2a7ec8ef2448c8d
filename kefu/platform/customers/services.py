"""Customer records: create, find (by name, phone or email for screen pop), update, history."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from kefu.platform.customers.models import Customer, CustomerEmail, CustomerPhone
from kefu.platform.db import paginate
from kefu.platform.interactions.models import Interaction


def normalize_phone(number: str) -> str:
    """Digits with an optional leading +, so '+86 10-1234 5678' and '+861012345678' match."""
    number = number.strip()
    digits = "".join(c for c in number if c.isdigit())
    return ("+" if number.startswith("+") else "") + digits


class CustomerService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def _query(self) -> sa.Select[Any]:
        return sa.select(Customer).options(
            selectinload(Customer.phones), selectinload(Customer.emails))

    def search(
        self, *, text: str | None = None, phone: str | None = None, email: str | None = None,
        vip: bool | None = None, blacklisted: bool | None = None, limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Customer], int]:
        query = self._query().order_by(Customer.name, Customer.id)
        if text:
            pattern = f"%{text.strip()}%"
            query = query.where(sa.or_(Customer.name.ilike(pattern),
                                       Customer.company.ilike(pattern),
                                       Customer.account_number.ilike(pattern)))
        if phone:
            number = normalize_phone(phone)
            query = query.where(Customer.phones.any(CustomerPhone.number == number))
        if email:
            query = query.where(
                Customer.emails.any(CustomerEmail.address == email.strip().lower()))
        if vip is not None:
            query = query.where(Customer.is_vip.is_(vip))
        if blacklisted is not None:
            query = query.where(Customer.is_blacklisted.is_(blacklisted))
        return paginate(self.db, query, limit, offset)

    def get(self, customer_id: uuid.UUID) -> Customer | None:
        return self.db.scalar(self._query().where(Customer.id == customer_id))

    def create(self, fields: dict[str, Any], phones: list[dict[str, Any]],
               emails: list[dict[str, Any]]) -> Customer:
        customer = Customer(**fields)
        self._set_contacts(customer, phones, emails)
        self.db.add(customer)
        self.db.flush()
        return customer

    def update(
        self, customer: Customer, fields: dict[str, Any],
        phones: list[dict[str, Any]] | None, emails: list[dict[str, Any]] | None,
    ) -> Customer:
        for name, value in fields.items():
            setattr(customer, name, value)
        if phones is not None or emails is not None:
            self._set_contacts(customer, phones, emails)
        self.db.flush()
        return customer

    def delete(self, customer: Customer) -> None:
        self.db.delete(customer)

    def history(self, customer_id: uuid.UUID, limit: int = 50,
                offset: int = 0) -> tuple[list[Interaction], int]:
        query = (sa.select(Interaction).where(Interaction.customer_id == customer_id)
                 .order_by(Interaction.created_at.desc()))
        return paginate(self.db, query, limit, offset)

    @staticmethod
    def _set_contacts(customer: Customer, phones: list[dict[str, Any]] | None,
                      emails: list[dict[str, Any]] | None) -> None:
        # Existing rows are reused: replacing them with new objects would insert the new
        # before deleting the old and trip the (customer, number) unique constraint.
        if phones is not None:
            current = {p.number: p for p in customer.phones}
            wanted: dict[str, CustomerPhone] = {}
            for phone in phones:
                number = normalize_phone(phone["number"])
                row = current.get(number) or CustomerPhone(number=number)
                row.label = phone.get("label")
                wanted[number] = row
            customer.phones = sorted(wanted.values(), key=lambda row: row.number)
        if emails is not None:
            current_emails = {e.address: e for e in customer.emails}
            wanted_emails: dict[str, CustomerEmail] = {}
            for email in emails:
                address = email["address"].strip().lower()
                row_e = current_emails.get(address) or CustomerEmail(address=address)
                row_e.label = email.get("label")
                wanted_emails[address] = row_e
            customer.emails = sorted(wanted_emails.values(), key=lambda row: row.address)
