"""Knowledge-base articles and their search index (one row per article, field and term)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base, TimestampMixin, uuid_pk
from kefu.platform.tenancy.scope import TenantScoped


class Article(TimestampMixin, TenantScoped, Base):
    """An answer agents read and FAQ rules send. Its title is the question it answers."""

    __tablename__ = "knowledge_articles"
    __table_args__ = (sa.Index("ix_knowledge_articles_tenant_updated", "tenant_id",
                               "updated_at"),)

    id: Mapped[uuid_pk]
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # A locale as the DSL names them (en, en_US, zh_CN); search can filter by language.
    locale: Mapped[str] = mapped_column(sa.String(16))
    # Drafts are seen by supervisors only and never sent as FAQ answers.
    published: Mapped[bool] = mapped_column(default=False)
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    terms: Mapped[list[KnowledgeTerm]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True)


class KnowledgeTerm(TenantScoped, Base):
    """A term (word or CJK character/bigram, see :mod:`.search`) in one field of an article.
    Searching reads the rows of the query's terms through (tenant_id, term)."""

    __tablename__ = "knowledge_terms"
    # (term, tenant_id), not tenant first: with an index led by tenant_id, SQLite's planner
    # (no statistics) reads all of a tenant's index rows for a query on one article.
    __table_args__ = (sa.Index("ix_knowledge_terms_term_tenant", "term", "tenant_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    article_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"), primary_key=True)
    # "t" title, "g" tags, "b" body.
    field: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    term: Mapped[str] = mapped_column(sa.String(64), primary_key=True)

    article: Mapped[Article] = relationship(back_populates="terms")
