"""/api/v1/knowledge/articles: the tenant's knowledge base. Agents search and read published
articles; supervisors and admins (``KNOWLEDGE_MANAGE``) also see drafts and write."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints, field_validator
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out, Query, not_null
from kefu.platform.identity.models import User
from kefu.platform.identity.permissions import Permission
from kefu.platform.knowledge.services import KnowledgeService

Title = Annotated[str, StringConstraints(min_length=1, max_length=300)]
ArticleBody = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]
# A locale as the DSL writes them: en, en_US, zh_CN (a hyphen is accepted too).
Locale = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")]


class ArticleCreate(Body):
    title: Title
    body: ArticleBody
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    locale: Locale
    published: bool = False


class ArticleUpdate(Body):
    title: Title | None = None
    body: ArticleBody | None = None
    tags: list[Tag] | None = Field(None, max_length=30)
    locale: Locale | None = None
    published: bool | None = None

    _not_null = not_null("title", "body", "tags", "locale", "published")


class ArticleOut(Out):
    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    locale: str
    published: bool
    author_user_id: uuid.UUID | None
    author_name: str | None = None
    created_at: datetime
    updated_at: datetime
    # How well the article matches the search (0..1); null when listing without a query.
    score: float | None = None


class ArticleQuery(Query):
    limit: int = Field(20, ge=1, le=100, description="page size")
    q: str | None = Field(None, max_length=500, description="words or Chinese text to find")
    locale: Locale | None = Field(None, description="only articles in this language")
    published: bool | None = Field(
        None, description="managers: only published (true) or only drafts (false)")

    @field_validator("q")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None


def _manages(request: Request) -> bool:
    return Permission.KNOWLEDGE_MANAGE in request.identity.permissions


def _load(request: Request, article_id: uuid.UUID) -> Any:
    article = KnowledgeService(request.db).get(article_id, drafts=_manages(request))
    if article is None:
        raise NotFound("article")
    return article


def _out(article: Any, score: float | None = None) -> ArticleOut:
    out = ArticleOut.model_validate(article)
    out.score = score
    return out


def _with_authors(request: Request, items: list[ArticleOut]) -> list[ArticleOut]:
    """Fill in the authors' display names (users are platform-wide: only the ids the
    tenant's own articles name are read)."""
    ids = {i.author_user_id for i in items if i.author_user_id is not None}
    if ids:
        names = dict(request.db.execute(
            sa.select(User.id, User.display_name).where(User.id.in_(sorted(ids)))).all())
        for item in items:
            item.author_name = names.get(item.author_user_id)
    return items


def _one(request: Request, article: Any) -> ArticleOut:
    return _with_authors(request, [_out(article)])[0]


@api("/knowledge/articles", "GET", permission=Permission.KNOWLEDGE_READ, tag="knowledge",
     summary="Search the knowledge base (Chinese and English), best match first; without q, "
             "newest first",
     query=ArticleQuery, response=ArticleOut, list_response=True)
def list_articles(request: Request, query: ArticleQuery) -> Any:
    service = KnowledgeService(request.db)
    # Agents see published articles only; managers see drafts too unless they filter.
    published = query.published if _manages(request) else True
    if query.q:
        hits, total = service.search(query.q, locale=query.locale, published=published,
                                     limit=query.limit, offset=query.offset)
        return _with_authors(request, [_out(h.article, h.score) for h in hits]), total
    articles, total = service.listing(locale=query.locale, published=published,
                                      limit=query.limit, offset=query.offset)
    return _with_authors(request, [_out(a) for a in articles]), total


@api("/knowledge/articles", "POST", permission=Permission.KNOWLEDGE_MANAGE, tag="knowledge",
     summary="Write an article", body=ArticleCreate, response=ArticleOut, status=201)
def create_article(request: Request, body: ArticleCreate) -> ArticleOut:
    article = KnowledgeService(request.db).create(body.model_dump(), request.identity.user_id)
    audit_change(request, "knowledge.create", article, title=article.title)
    return _one(request, article)


@api("/knowledge/articles/{article_id}", "GET", permission=Permission.KNOWLEDGE_READ,
     tag="knowledge", summary="Read an article", response=ArticleOut)
def get_article(request: Request, article_id: uuid.UUID) -> ArticleOut:
    return _one(request, _load(request, article_id))


@api("/knowledge/articles/{article_id}", "PATCH", permission=Permission.KNOWLEDGE_MANAGE,
     tag="knowledge", summary="Change an article (only the fields sent)", body=ArticleUpdate,
     response=ArticleOut)
def update_article(request: Request, article_id: uuid.UUID, body: ArticleUpdate) -> ArticleOut:
    article = _load(request, article_id)
    fields = body.model_dump(exclude_unset=True)
    KnowledgeService(request.db).update(article, fields)
    audit_change(request, "knowledge.update", article, fields=sorted(body.model_fields_set))
    return _one(request, article)


@api("/knowledge/articles/{article_id}", "DELETE", permission=Permission.KNOWLEDGE_MANAGE,
     tag="knowledge", summary="Delete an article")
def delete_article(request: Request, article_id: uuid.UUID) -> None:
    article = _load(request, article_id)
    audit_change(request, "knowledge.delete", article, title=article.title)
    KnowledgeService(request.db).delete(article)
