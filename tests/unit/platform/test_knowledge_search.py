"""Knowledge-base tokenizing and scoring: Chinese by characters and bigrams, English by
lower-cased words without stop words; title matches outrank body matches."""

from __future__ import annotations

from kefu.platform.knowledge.search import (
    BODY,
    TAGS,
    TITLE,
    index_terms,
    query_score,
    query_terms,
    question_score,
    term_weight,
    tokens,
)


def test_chinese_is_split_into_bigrams_and_characters() -> None:
    assert tokens("申请退款") == ["申请", "请退", "退款", "申", "退", "款"]  # 请 is too common
    assert tokens("气") == ["气"]


def test_english_words_are_lower_cased_without_stop_words_and_plurals() -> None:
    assert tokens("How do I reset my Passwords?") == ["reset", "password"]
    assert tokens("Queries, classes, boxes, bus, gas") == ["query", "class", "box", "bus", "gas"]


def test_mixed_text_and_full_width_forms() -> None:
    assert tokens("ＶＩＰ客户 hotline 95588") == ["vip", "客户", "客", "户", "hotline", "95588"]


def test_query_terms_are_distinct_in_order() -> None:
    assert query_terms("refund refund 退款 退款") == ["refund", "退款", "退", "款"]
    assert query_terms("the of and ... !!!") == []


def test_index_terms_name_their_field() -> None:
    pairs = index_terms("Gas leak", "Leave the building", ["safety"])
    assert pairs == {(TITLE, "gas"), (TITLE, "leak"), (BODY, "leave"), (BODY, "building"),
                     (TAGS, "safety")}


def test_a_title_match_scores_above_the_same_match_in_the_body() -> None:
    terms = ["reset", "password"]
    weights = dict.fromkeys(terms, 1.0)
    title, title_part = query_score(terms, {"reset": {TITLE}, "password": {TITLE, BODY}},
                                    weights)
    body, body_part = query_score(terms, {"reset": {BODY}, "password": {BODY}}, weights)
    half, _ = query_score(terms, {"password": {TITLE}}, weights)
    assert (title, title_part) == (1.0, 1.0)
    assert (body, body_part) == (0.5, 0.0)
    assert half == 0.5
    assert query_score(terms, {}, weights) == (0.0, 0.0)


def test_single_chinese_characters_weigh_less_than_bigrams() -> None:
    assert term_weight("退") < term_weight("退款") == term_weight("refund")


def test_question_score_is_the_share_of_the_title_in_the_message() -> None:
    title = set(tokens("How do I reset my password?"))
    assert question_score(title, set(tokens("Hi, please reset my password, thanks")), {}) == 1.0
    assert question_score(title, set(tokens("my password expired")), {}) == 0.5
    assert question_score(set(), set(tokens("anything")), {}) == 0.0
