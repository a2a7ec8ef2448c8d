"""Customers and how to reach them. Their contact history is their interactions and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base, TimestampMixin, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class Customer(TimestampMixin, TenantScoped, Base):
    __tablename__ = "customers"
    __table_args__ = (sa.Index("ix_customers_tenant_name", "tenant_id", "name"),)

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(sa.String(200))
    # Organisation, household or account holder name when it differs from the person's.
    company: Mapped[str | None] = mapped_column(sa.String(200))
    # The tenant's own account or customer number (gas account, meter number...).
    account_number: Mapped[str | None] = mapped_column(sa.String(64))
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    is_vip: Mapped[bool] = mapped_column(default=False)
    is_blacklisted: Mapped[bool] = mapped_column(default=False)
    blacklist_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # The branch or service point that serves this customer (e.g. a gas station).
    service_point: Mapped[str | None] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    last_contact_at: Mapped[datetime | None]
    # Channels the customer unsubscribed from ("sms", "email"): nothing but replies to their
    # own messages is sent there (a keyword rule such as 退订/STOP sets it).
    opt_outs: Mapped[list[Any]] = mapped_column(default=list)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.number"
    )
    emails: Mapped[list[CustomerEmail]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerEmail.address"
    )


class CustomerPhone(TenantScoped, Base):
    """A phone number in E.164 form where known; indexed for screen pop by caller number."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "number"),
        sa.Index("ix_customer_phones_tenant_number", "tenant_id", "number"),
    )

    id: Mapped[uuid_pk]
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(sa.String(32))
    label: Mapped[str | None] = mapped_column(sa.String(50))

    customer: Mapped[Customer] = relationship(back_populates="phones")


class CustomerEmail(TenantScoped, Base):
    """An email address, stored lower-case; indexed for matching inbound mail."""

    __tablename__ = "customer_emails"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "address"),
        sa.Index("ix_customer_emails_tenant_address", "tenant_id", "address"),
    )

    id: Mapped[uuid_pk]
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(sa.String(254))
    label: Mapped[str | None] = mapped_column(sa.String(50))

    customer: Mapped[Customer] = relationship(back_populates="emails")
