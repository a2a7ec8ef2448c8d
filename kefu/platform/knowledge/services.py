"""Knowledge-base articles: create, change, delete (keeping the search index in step), search
for agents, and the best answer to a customer's message for FAQ auto-answers.

Every query goes through the session's tenant scope; index rows are written with the
session's tenant. Scoring is in :mod:`.search` (pure), so both backends rank alike.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.knowledge import search
from kefu.platform.knowledge.models import Article, KnowledgeTerm
from kefu.platform.tenancy.scope import TenantScopeError, current_tenant_id

#: Articles scoring below this in an agent's search are noise (a shared single character).
MIN_SEARCH_SCORE = 0.1
#: The FAQ answer's default confidence threshold (``answer faq`` without ``above``).
DEFAULT_FAQ_MIN_SCORE = 0.7
#: How much of a customer's message is read for the FAQ look-up.
FAQ_MAX_CHARS = 4000
FAQ_MAX_TERMS = 1000


def normalize_locale(locale: str) -> str:
    """'zh-cn', 'zh_CN' → 'zh_CN'; 'EN' → 'en'."""
    parts = locale.strip().replace("-", "_").split("_", 1)
    return parts[0].lower() + ("_" + parts[1].upper() if len(parts) > 1 and parts[1] else "")


def _language_filter(locale: str) -> sa.ColumnElement[bool]:
    """Articles in the language of ``locale`` (en matches en and en_US, en_US matches en)."""
    language = normalize_locale(locale).split("_", 1)[0]
    return sa.or_(Article.locale == language,
                  Article.locale.like(language + "\\_%", escape="\\"))


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float


@dataclass(frozen=True)
class Answer:
    article: Article
    score: float


class KnowledgeService:
    def __init__(self, db: Session) -> None:
        self.db = db

    # ------------------------------------------------------------------ records
    def get(self, article_id: uuid.UUID, *, drafts: bool = True) -> Article | None:
        query = sa.select(Article).where(Article.id == article_id)
        if not drafts:
            query = query.where(Article.published.is_(True))
        return self.db.scalar(query)

    def create(self, fields: dict[str, Any], author_user_id: uuid.UUID | None) -> Article:
        article = Article(**{**fields, "locale": normalize_locale(fields["locale"]),
                             "tags": _clean_tags(fields.get("tags") or [])},
                          author_user_id=author_user_id)
        self.db.add(article)
        self.db.flush()
        self._index(article, new=True)
        return article

    def update(self, article: Article, fields: dict[str, Any]) -> Article:
        if "locale" in fields:
            fields = {**fields, "locale": normalize_locale(fields["locale"])}
        if "tags" in fields:
            fields = {**fields, "tags": _clean_tags(fields["tags"])}
        for name, value in fields.items():
            setattr(article, name, value)
        self.db.flush()
        if {"title", "body", "tags"} & set(fields):
            self._index(article)
        return article

    def delete(self, article: Article) -> None:
        self.db.execute(sa.delete(KnowledgeTerm).where(KnowledgeTerm.article_id == article.id))
        self.db.delete(article)
        self.db.flush()

    def _index(self, article: Article, *, new: bool = False) -> None:
        tenant_id = current_tenant_id(self.db)
        if tenant_id is None:
            raise TenantScopeError("indexing an article needs a tenant-scoped session")
        if not new:
            self.db.execute(sa.delete(KnowledgeTerm)
                            .where(KnowledgeTerm.article_id == article.id))
        rows = [{"tenant_id": tenant_id, "article_id": article.id, "field": field, "term": term}
                for field, term in sorted(search.index_terms(article.title, article.body,
                                                             article.tags or []))]
        if rows:
            self.db.execute(sa.insert(KnowledgeTerm), rows)
        # The relationship collection is stale after the bulk statements.
        self.db.expire(article, ["terms"])

    # ------------------------------------------------------------------ search
    def _filters(self, locale: str | None,
                 published: bool | None) -> list[sa.ColumnElement[bool]]:
        filters: list[sa.ColumnElement[bool]] = []
        if published is not None:
            filters.append(Article.published.is_(published))
        if locale:
            filters.append(_language_filter(locale))
        return filters

    def listing(self, *, locale: str | None = None, published: bool | None = True,
                limit: int = 50, offset: int = 0) -> tuple[list[Article], int]:
        """Articles newest first, without a query (``published`` None: drafts too)."""
        filters = self._filters(locale, published)
        total = self.db.scalar(sa.select(sa.func.count()).select_from(Article).where(*filters))
        items = self.db.scalars(sa.select(Article).where(*filters)
                                .order_by(Article.updated_at.desc(), Article.id)
                                .limit(limit).offset(offset)).all()
        return list(items), int(total or 0)

    def search(self, text: str, *, locale: str | None = None, published: bool | None = True,
               limit: int = 20, offset: int = 0) -> tuple[list[Hit], int]:
        """Articles matching ``text``, best first (see :func:`search.query_score`), and how
        many matched in all (``published`` None: drafts too)."""
        terms = search.query_terms(text)
        if not terms:
            return [], 0
        # Two plain queries rather than a join: with a join SQLite's planner (no statistics)
        # sometimes walks every article and probes its terms, ten times slower.
        allowed = set(self.db.scalars(sa.select(Article.id).where(*self._filters(locale,
                                                                                 published))))
        rows = self.db.execute(
            sa.select(KnowledgeTerm.article_id, KnowledgeTerm.field, KnowledgeTerm.term)
            .where(KnowledgeTerm.term.in_(terms))).all()
        documents = len(allowed)
        matches: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        holders: dict[str, set[uuid.UUID]] = defaultdict(set)
        for article_id, field, term in rows:
            if article_id not in allowed:
                continue
            matches[article_id][term].add(field)
            holders[term].add(article_id)
        weights = {t: search.term_weight(t) * search.idf(len(holders.get(t, ())), documents)
                   for t in terms}
        scored: list[tuple[float, float, uuid.UUID]] = []
        for article_id, found in matches.items():
            score, title = search.query_score(terms, found, weights)
            if score >= MIN_SEARCH_SCORE:
                scored.append((score, title, article_id))
        # Ties break on the id (time-ordered: newer first), the same on every backend.
        scored.sort(key=lambda s: (-round(s[0], 9), -round(s[1], 9), -s[2].int))
        page = scored[offset:offset + limit]
        articles = {a.id: a for a in self.db.scalars(
            sa.select(Article).where(Article.id.in_([p[2] for p in page])))}
        return [Hit(articles[p[2]], round(p[0], 4)) for p in page if p[2] in articles], \
            len(scored)

    def best_answer(
        self, text: str, *, locale: str | None = None,
        min_score: float = DEFAULT_FAQ_MIN_SCORE,
    ) -> tuple[Answer | None, Answer | None]:
        """The published article whose title (question) the message asks, if it scores at
        least ``min_score``: (answer or None, best candidate whatever its score)."""
        message_terms: set[str] = set()
        for term in search.tokens(text[:FAQ_MAX_CHARS]):
            message_terms.add(term)
            if len(message_terms) >= FAQ_MAX_TERMS:
                break
        if not message_terms:
            return None, None
        candidates = set(self.db.scalars(
            sa.select(KnowledgeTerm.article_id)
            .where(KnowledgeTerm.field == search.TITLE,
                   KnowledgeTerm.term.in_(sorted(message_terms)))
            .distinct()).all())
        if not candidates:
            return None, None
        # Titles are short: tokenizing them again is cheaper than reading their index rows.
        titles = self.db.execute(sa.select(Article.id, Article.title).where(
            Article.id.in_(sorted(candidates)), *self._filters(locale, published=True))).all()
        ranked = []
        for article_id, title in titles:
            terms = set(search.tokens(title))
            weights = {t: search.term_weight(t) for t in terms}
            ranked.append((search.question_score(terms, message_terms, weights), len(terms),
                           article_id))
        if not ranked:
            return None, None
        ranked.sort(key=lambda r: (-round(r[0], 9), -r[1], -r[2].int))
        score, _, best_id = ranked[0]
        article = self.db.scalar(sa.select(Article).where(Article.id == best_id))
        if article is None:
            return None, None
        best = Answer(article, round(score, 4))
        return (best if score >= min_score else None), best


def _clean_tags(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in tags:
        tag = raw.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


__all__ = ["DEFAULT_FAQ_MIN_SCORE", "Answer", "Hit", "KnowledgeService", "normalize_locale"]
