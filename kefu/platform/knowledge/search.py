"""Tokenizing and scoring for knowledge-base search, pure functions (no database).

Chinese, Japanese and Korean text has no spaces between words, so a word index cannot work
for it. CJK runs are indexed as every single character and every pair of neighbouring
characters (bigrams): the query 退款 then finds 如何申请退款 through the bigram 退款, with no
dictionary. Latin text is split into lower-cased words (letters and digits), with a small
English stop-word list left out and a plain plural folded (refunds → refund).

Scores are computed in Python from the matching index rows, so SQLite and PostgreSQL give
exactly the same results and order.

Two scores:

- :func:`query_score` ranks an agent's search: how much of the *query* an article covers,
  each query term counting where it matched best (title 1.0, tags 0.8, body 0.5), so title
  matches rank above body matches. Rare terms count more than common ones (IDF).
- :func:`question_score` is the FAQ auto-answer's confidence: how much of the article's
  *title* (the question it answers) appears in the customer's message. A long email that
  asks the question among other words still scores high; an email that shares only one
  word with the title does not.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TITLE = "t"
TAGS = "g"
BODY = "b"
FIELD_WEIGHTS = {TITLE: 1.0, TAGS: 0.8, BODY: 0.5}
#: Query terms beyond this many are ignored (a pasted email is a long query).
MAX_QUERY_TERMS = 200
#: Index terms longer than this are cut (the column's width).
MAX_TERM_LENGTH = 64

# Words that carry no meaning for matching; a question's wording ("how do I …") must not
# make every article look like an answer.
_STOP_TEXT = """
a an the and or but if of to in on at by for with from as is are was were be been being am
i me my we our you your he she it its they them their this that these those there here
do does did done doing have has had having can could will would shall should may might must
not no yes so than then too very just also only about into over under again
what which who whom whose when where why how all any some each both more most other such
please hi hello dear thanks thank regards get got
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
# Single CJK characters this common match nearly everything; they still count inside bigrams.
CJK_STOP_CHARS = frozenset("的了吗呢吧啊是我你他她它们在和与及或有就都也还这那个么什怎请谢")


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0xF900 <= code <= 0xFAFF or 0x3040 <= code <= 0x30FF or 0xAC00 <= code <= 0xD7AF)


def _fold_word(word: str) -> str:
    """Plain English plurals to the singular, so 'refunds' finds 'refund'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "xes")):
        return word[:-2]  # classes, wishes, boxes
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _runs(text: str) -> Iterable[tuple[str, str]]:
    """(kind, run) pieces of ``text``: "w" Latin words/digits, "c" CJK runs."""
    text = unicodedata.normalize("NFKC", text)
    kind = ""
    start = 0
    for i, ch in enumerate(text):
        now = "c" if _is_cjk(ch) else "w" if ch.isalnum() else ""
        if now != kind:
            if kind:
                yield kind, text[start:i]
            kind, start = now, i
    if kind:
        yield kind, text[start:]


def tokens(text: str) -> list[str]:
    """Every index term of ``text``, in order, with repeats.

    >>> tokens("How do I get a REFUND? 如何申请退款")
    ['refund', '如何', '何申', '申请', '请退', '退款', '如', '何', '申', '退', '款']
    """
    out: list[str] = []
    for kind, run in _runs(text or ""):
        if kind == "w":
            word = _fold_word(run.lower())
            if word not in STOP_WORDS:
                out.append(word[:MAX_TERM_LENGTH])
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
            out.extend(ch for ch in run if ch not in CJK_STOP_CHARS)
    return out


def term_weight(term: str) -> float:
    """Single CJK characters are weak evidence; bigrams and words are strong."""
    return 0.3 if len(term) == 1 and _is_cjk(term) else 1.0


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, first occurrence first, at most MAX_QUERY_TERMS."""
    seen: dict[str, None] = {}
    for term in tokens(text):
        seen.setdefault(term, None)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    return list(seen)


def index_terms(title: str, body: str, tags: Iterable[str]) -> set[tuple[str, str]]:
    """(field, term) pairs to store for an article."""
    pairs = {(TITLE, t) for t in tokens(title)}
    pairs |= {(TAGS, t) for tag in tags for t in tokens(tag)}
    pairs |= {(BODY, t) for t in tokens(body)}
    return pairs


def idf(document_frequency: int, documents: int) -> float:
    """Smoothed inverse document frequency: rare terms count more, none counts nothing."""
    return 1.0 + math.log((1 + documents) / (1 + document_frequency))


@dataclass(frozen=True)
class Scored:
    article_id: object
    score: float  # 0..1, 1 = every term matched in the title
    title_score: float  # the part of the query matched in the title


def query_score(terms: list[str], matches: Mapping[str, set[str]],
                weights: Mapping[str, float]) -> tuple[float, float]:
    """(score, title_score) of one article for a query.

    Args:
        terms: the query's terms.
        matches: term → the fields of this article it occurs in.
        weights: term → its weight (term_weight × idf).
    """
    total = sum(weights[t] for t in terms) or 1.0
    got = title = 0.0
    for term in terms:
        fields = matches.get(term)
        if not fields:
            continue
        got += weights[term] * max(FIELD_WEIGHTS[f] for f in fields)
        if TITLE in fields:
            title += weights[term]
    return got / total, title / total


def question_score(title_terms: set[str], message_terms: set[str],
                   weights: Mapping[str, float]) -> float:
    """How much of an article's title (its question) the message contains, 0..1."""
    if not title_terms:
        return 0.0
    total = sum(weights.get(t, 1.0) for t in title_terms)
    got = sum(weights.get(t, 1.0) for t in title_terms if t in message_terms)
    return got / total if total else 0.0


__all__ = ["BODY", "FIELD_WEIGHTS", "MAX_QUERY_TERMS", "TAGS", "TITLE", "Scored", "idf",
           "index_terms", "query_score", "query_terms", "question_score", "term_weight",
           "tokens"]
