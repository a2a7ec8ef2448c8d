"""Knowledge-base search latency with 1,000 articles, on SQLite or PostgreSQL.

Setup: a fresh migrated database, one tenant, 1,000 published articles — half English
(a title of 4–8 words and a body of ~150 words from a 2,000-word vocabulary), half Chinese
(a title of 6–12 characters and a body of ~200 characters from 1,500 common characters) —
indexed through ``KnowledgeService.create`` (as the API does). Then 300 agent searches
(``KnowledgeService.search``: 1–3 English words, or 2–6 Chinese characters, taken from
random articles so most hit) and 300 FAQ look-ups (``best_answer`` on a 60-word email
that contains some article's title) are timed, each in its own transaction.

    .venv/bin/python benchmarks/knowledge.py [--articles N] [--database-url URL]

Prints index time per article and p50/p95/max latency of each kind of query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from kefu.platform import migrate
from kefu.platform.db import create_engine, make_session_factory
from kefu.platform.knowledge.services import KnowledgeService
from kefu.platform.tenancy.scope import bind_tenant
from kefu.platform.tenancy.services import TenantService

CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 1500)]


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(2000)]


def _article(rng: random.Random, words: list[str], chinese: bool) -> dict[str, object]:
    if chinese:
        title = "".join(rng.choice(CJK) for _ in range(rng.randint(6, 12)))
        body = "".join(rng.choice(CJK) for _ in range(200))
        locale = "zh_CN"
    else:
        title = " ".join(rng.choice(words) for _ in range(rng.randint(4, 8))).capitalize()
        body = " ".join(rng.choice(words) for _ in range(150))
        locale = "en"
    return {"title": title, "body": body, "tags": [rng.choice(words)], "locale": locale,
            "published": True}


def _report(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{label:<34} n={len(ms):<4} p50={statistics.median(ms):7.2f} ms  "
          f"p95={p95:7.2f} ms  max={ms[-1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database-url", help="an empty database (default: a temp SQLite)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'kb.sqlite3'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(6)
    words = _vocabulary(rng)
    with sessions() as db:
        tenant = TenantService(db).create(f"kb-{uuid.uuid4().hex[:8]}", "Benchmark")
        db.commit()
        tenant_id = tenant.id
    articles = [_article(rng, words, chinese=i % 2 == 1) for i in range(args.articles)]
    t0 = time.perf_counter()
    with sessions() as db:
        bind_tenant(db, tenant_id)
        service = KnowledgeService(db)
        for fields in articles:
            service.create(dict(fields), None)
        db.commit()
        terms = db.scalar(sa.text("SELECT count(*) FROM knowledge_terms"))
    took = time.perf_counter() - t0
    print(f"backend {engine.dialect.name}: {args.articles} articles, {terms} index rows, "
          f"indexed in {took:.1f} s ({took / args.articles * 1000:.1f} ms per article)")

    searches: list[float] = []
    hits = 0
    for _ in range(args.queries):
        source = rng.choice(articles)
        text = str(source["title"])
        if source["locale"] == "en":
            query = " ".join(rng.sample(text.lower().split(), k=min(3, rng.randint(1, 3))))
        else:
            start = rng.randint(0, len(text) - 2)
            query = text[start:start + rng.randint(2, 6)]
        t0 = time.perf_counter()
        with sessions() as db:
            bind_tenant(db, tenant_id)
            found, _total = KnowledgeService(db).search(query, limit=20)
        searches.append(time.perf_counter() - t0)
        hits += any(h.article.title == source["title"] for h in found)
    _report("agent search (20 best)", searches)
    print(f"{'':<34} the article the query came from was found {hits}/{args.queries} times")

    lookups: list[float] = []
    answered = 0
    for _ in range(args.queries):
        source = rng.choice([a for a in articles if a["locale"] == "en"])
        filler = " ".join(rng.choice(words) for _ in range(50))
        mail = f"Hello, {source['title']}? {filler}"
        t0 = time.perf_counter()
        with sessions() as db:
            bind_tenant(db, tenant_id)
            answer, _best = KnowledgeService(db).best_answer(mail, min_score=0.7)
        lookups.append(time.perf_counter() - t0)
        answered += answer is not None and answer.article.title == source["title"]
    _report("FAQ look-up (60-word email)", lookups)
    print(f"{'':<34} answered with the asked article {answered}/{args.queries} times")
    engine.dispose()


if __name__ == "__main__":
    main()
