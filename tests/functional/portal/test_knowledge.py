"""The knowledge base through the API: supervisors write articles, agents search them in
Chinese and English (title matches first), drafts stay with supervisors, and another
tenant's articles do not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from kefu.platform.identity.models import Role
from tests.functional.api.conftest import (
    Actor,
    error,
    error_fields,
)

ARTICLES = [
    {"title": "How do I reset my password?", "locale": "en", "tags": ["account"],
     "body": "Open the login page, choose 'Forgot password' and follow the link we email "
             "you. The link is valid for one hour."},
    {"title": "Opening hours", "locale": "en", "tags": ["general"],
     "body": "Our service desk answers from 08:00 to 20:00 every day. To reset a password "
             "outside these hours use the self-service page."},
    {"title": "如何申请退款", "locale": "zh_CN", "tags": ["账单"],
     "body": "登录账户后，在订单页面点击“申请退款”，三个工作日内处理。"},
    {"title": "燃气报修", "locale": "zh_CN", "tags": ["维修"],
     "body": "发现燃气泄漏请立即关闭阀门并拨打抢修电话。退款问题请联系客服。"},
]


@pytest.fixture
def supervisor(actor: Callable[..., Actor]) -> Actor:
    admin = actor()
    return actor(admin.tenant, Role.SUPERVISOR)


@pytest.fixture
def agent(actor: Callable[..., Actor], supervisor: Actor) -> Actor:
    return actor(supervisor.tenant, Role.AGENT)


@pytest.fixture
def articles(supervisor: Actor) -> list[dict[str, Any]]:
    return [supervisor.bearer.api("POST", "/knowledge/articles", {**a, "published": True},
                                  status=201).json for a in ARTICLES]


def _titles(client: Any, query: str) -> list[str]:
    # Browsers percent-encode the query string; WebTest sends it as given.
    encoded = quote(query, safe="=&+")
    response = client.api("GET", f"/knowledge/articles?{encoded}", status=200)
    return [item["title"] for item in response.json["items"]]


def test_supervisor_writes_and_agent_finds_english_with_title_matches_first(
        agent: Actor, articles: list[dict[str, Any]]) -> None:
    found = _titles(agent.web, "q=reset+passwords")
    # Both mention resetting a password; the one whose title asks it comes first.
    assert found == ["How do I reset my password?", "Opening hours"]
    response = agent.web.api("GET", "/knowledge/articles?q=RESET+Password", status=200).json
    scores = [item["score"] for item in response["items"]]
    assert scores == sorted(scores, reverse=True)
    assert 0 < scores[-1] < scores[0] <= 1
    assert _titles(agent.web, "q=volcano") == []


def test_chinese_search_without_spaces_finds_by_bigrams(
        agent: Actor, articles: list[dict[str, Any]]) -> None:
    # 退款 is in one title and in the other's body: the title match ranks first.
    assert _titles(agent.bearer, "q=退款") == ["如何申请退款", "燃气报修"]
    assert _titles(agent.bearer, "q=我想申请退款怎么办")[0] == "如何申请退款"
    assert _titles(agent.bearer, "q=燃气泄漏") == ["燃气报修"]


def test_locale_filter_keeps_to_one_language(agent: Actor,
                                             articles: list[dict[str, Any]]) -> None:
    assert set(_titles(agent.web, "locale=zh")) == {"如何申请退款", "燃气报修"}
    assert set(_titles(agent.web, "locale=en_US")) == {"How do I reset my password?",
                                                        "Opening hours"}
    assert _titles(agent.web, "q=退款&locale=en") == []


def test_listing_without_query_is_newest_first(agent: Actor,
                                               articles: list[dict[str, Any]]) -> None:
    listed = agent.web.api("GET", "/knowledge/articles", status=200).json
    assert listed["total"] == 4
    assert [i["title"] for i in listed["items"]] == [a["title"] for a in reversed(ARTICLES)]


def test_edits_reindex_and_delete_removes(supervisor: Actor, agent: Actor,
                                          articles: list[dict[str, Any]]) -> None:
    hours = articles[1]
    changed = supervisor.web.api("PATCH", f"/knowledge/articles/{hours['id']}",
                                 {"title": "Service desk times", "tags": ["hours", " hours"]},
                                 status=200).json
    assert changed["tags"] == ["hours"]
    assert changed["updated_at"] >= hours["updated_at"]
    assert _titles(agent.web, "q=opening") == []
    assert _titles(agent.web, "q=desk+times") == ["Service desk times"]
    supervisor.web.api("DELETE", f"/knowledge/articles/{hours['id']}", status=204)
    agent.web.api("GET", f"/knowledge/articles/{hours['id']}", status=404)
    assert _titles(agent.web, "q=desk") == []


def test_drafts_are_for_supervisors_only(supervisor: Actor, agent: Actor) -> None:
    draft = supervisor.bearer.api("POST", "/knowledge/articles", {
        "title": "Winter tariff", "body": "New prices from December.", "locale": "en"},
        status=201).json
    assert draft["published"] is False
    assert draft["author_user_id"] == str(supervisor.user.id)
    assert draft["author_name"] == supervisor.user.display_name
    assert _titles(agent.web, "q=tariff") == []
    agent.web.api("GET", f"/knowledge/articles/{draft['id']}", status=404)
    assert _titles(supervisor.web, "q=tariff") == ["Winter tariff"]
    assert _titles(supervisor.web, "q=tariff&published=true") == []
    supervisor.web.api("PATCH", f"/knowledge/articles/{draft['id']}", {"published": True},
                       status=200)
    assert _titles(agent.web, "q=tariff") == ["Winter tariff"]


def test_agents_cannot_write(agent: Actor, articles: list[dict[str, Any]]) -> None:
    body = {"title": "x", "body": "y", "locale": "en"}
    assert error(agent.web.api("POST", "/knowledge/articles", body, status=403))["code"] \
        == "forbidden"
    agent.web.api("PATCH", f"/knowledge/articles/{articles[0]['id']}", {"title": "z"},
                  status=403)
    agent.web.api("DELETE", f"/knowledge/articles/{articles[0]['id']}", status=403)


def test_bad_articles_are_refused_naming_the_field(supervisor: Actor) -> None:
    response = supervisor.web.api("POST", "/knowledge/articles",
                                  {"title": "", "body": "text", "locale": "en"}, status=422)
    assert error_fields(response) == ["title"]
    response = supervisor.web.api("POST", "/knowledge/articles",
                                  {"title": "t", "body": "text", "locale": "english!"},
                                  status=422)
    assert error_fields(response) == ["locale"]
    response = supervisor.web.api("GET", "/knowledge/articles?limit=1000", status=422)
    assert error_fields(response) == ["limit"]


def test_another_tenants_articles_do_not_exist(actor: Callable[..., Actor], agent: Actor,
                                               supervisor: Actor,
                                               articles: list[dict[str, Any]]) -> None:
    other = actor()  # the admin of another tenant
    article = articles[0]
    for client in other.clients():
        assert error(client.api("GET", f"/knowledge/articles/{article['id']}",
                                status=404))["code"] == "not_found"
        client.api("PATCH", f"/knowledge/articles/{article['id']}", {"title": "mine"},
                   status=404)
        client.api("DELETE", f"/knowledge/articles/{article['id']}", status=404)
        assert client.api("GET", "/knowledge/articles?q=password", status=200).json == \
            {"items": [], "total": 0}
    # Unchanged for its own tenant.
    assert agent.web.api("GET", f"/knowledge/articles/{article['id']}",
                         status=200).json["title"] == article["title"]
    # The other tenant's article of the same words is not found by this tenant.
    other.web.api("POST", "/knowledge/articles", {
        "title": "Reset password elsewhere", "body": "b", "locale": "en", "published": True},
        status=201)
    assert _titles(agent.web, "q=elsewhere") == []


def test_the_demo_tenant_has_articles_to_search(factory: Any) -> None:
    from kefu.platform.demo import DEMO_ARTICLES, load_demo
    from kefu.platform.knowledge.services import KnowledgeService
    from kefu.platform.tenancy.scope import cross_tenant

    for _ in range(2):  # loading again adds nothing
        with factory.platform.session() as db, cross_tenant(db):
            tenant = load_demo(db).tenant
            db.commit()
    with factory.platform.session(tenant.id) as db:
        service = KnowledgeService(db)
        hits, _total = service.search("gas smell")
        assert hits[0].article.title == "What should I do if I smell gas?"
        assert service.listing()[1] == len(DEMO_ARTICLES)
