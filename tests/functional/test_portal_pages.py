"""The agent desktop and supervisor console pages as the server renders them: who may open
which, the language they speak (one set of message catalogues for the server's templates and
the page scripts), and that nothing a user controls can break out of the page's boot data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kefu.platform.identity.models import Role, User
from kefu.platform.tenancy.models import Tenant
from kefu.platform.web.portal_pages import LANGUAGES, catalogue

PORTAL = Path(__file__).resolve().parents[2] / "kefu" / "platform"


def boot_of(page: Any) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="portal-boot">(.*?)</script>',
                      page.text, re.S)
    assert found, "the page has no boot data"
    return json.loads(found.group(1))


def test_a_visitor_is_sent_to_log_in_first(web: Any) -> None:
    response = web().get("/agent", status=303)
    assert response.headers["Location"].endswith("/login?next=%2Fagent")


def test_an_agent_gets_the_desktop_and_not_the_console(factory: Any, web: Any) -> None:
    tenant = factory.tenant("acme", "ACME 公司")
    client = web(factory.user(tenant, Role.AGENT))
    desk = client.get("/agent")
    assert "<h1>Agent desktop</h1>" in desk.text
    assert boot_of(desk)["tenant"] == {"id": str(tenant.id), "name": "ACME 公司"}
    assert 'href="/supervisor"' not in desk.text
    refused = client.get("/supervisor", status=403)
    assert "Not allowed" in refused.text


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_get_the_console(factory: Any, web: Any, role: Role) -> None:
    client = web(factory.user(factory.tenant(), role))
    console = client.get("/supervisor")
    assert "<h1>Supervisor console</h1>" in console.text
    assert boot_of(console)["page"] == "supervisor"
    assert 'href="/supervisor"' in client.get("/").text


def test_the_language_switch_is_remembered(factory: Any, web: Any) -> None:
    client = web(factory.user(factory.tenant(), Role.AGENT))
    chinese = client.get("/agent?lang=zh_CN")
    assert '<html lang="zh-CN">' in chinese.text
    assert "<h1>座席工作台</h1>" in chinese.text
    assert boot_of(chinese)["lang"] == "zh"
    assert "<h1>座席工作台</h1>" in client.get("/agent").text  # the cookie remembers
    # Every page's frame speaks it too: the top bar, the forbidden page.
    refused = client.get("/supervisor", status=403)
    assert "<h1>无权访问</h1>" in refused.text
    assert ">首页</a>" in refused.text
    assert ">退出登录</button>" in refused.text
    assert "<h1>Agent desktop</h1>" in client.get("/agent?lang=en").text
    # A language kefu has no catalogue for changes nothing.
    assert "<h1>Agent desktop</h1>" in client.get("/agent?lang=fr").text


def test_the_users_then_the_tenants_locale_choose_the_language(factory: Any, web: Any) -> None:
    tenant = factory.tenant()
    agent = factory.user(tenant, Role.AGENT)
    with factory.session() as db:
        db.get(Tenant, tenant.id).default_locale = "zh_CN"
        db.commit()
    # "en" is every user's default: such a user follows the tenant ...
    assert "<h1>座席工作台</h1>" in web(agent).get("/agent").text
    english = factory.user(tenant, Role.AGENT)
    with factory.session() as db:
        db.get(User, english.id).locale = "en_GB"
        db.commit()
    # ... one who chose another English has it ...
    assert "<h1>Agent desktop</h1>" in web(english).get("/agent").text
    with factory.session() as db:
        db.get(Tenant, tenant.id).default_locale = "en"
        db.get(User, agent.id).locale = "zh-Hans"
        db.commit()
    # ... and a Chinese user of an English tenant gets Chinese.
    assert "<h1>座席工作台</h1>" in web(agent).get("/agent").text


def test_a_name_cannot_break_out_of_the_boot_data(factory: Any, web: Any) -> None:
    tenant = factory.tenant("evil", "</script><script>alert(1)</script>")
    client = web(factory.user(tenant, Role.AGENT))
    desk = client.get("/agent")
    assert "<script>alert(1)</script>" not in desk.text
    assert boot_of(desk)["tenant"]["name"] == "</script><script>alert(1)</script>"


def test_both_catalogues_have_every_text_the_pages_use() -> None:
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    assert keys["en"] == keys["zh"], keys["en"] ^ keys["zh"]
    used: set[str] = set()
    for template in (PORTAL / "templates").glob("*.html"):
        used |= set(re.findall(r"\bt\('([\w.]+)'", template.read_text(encoding="utf-8")))
    for script in (PORTAL / "static" / "portal").glob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text(encoding="utf-8")))
    assert used, "no texts found: the patterns above no longer match the code"
    assert used - keys["en"] == set()
    for lang in LANGUAGES:
        assert all(text.strip() for text in catalogue(lang).values()), lang


def test_the_browser_says_what_the_server_says_about_a_broken_rule() -> None:
    # A field without a message of its own gets the server's stock text; the page checking
    # the same rule must say the same (placeholders alike).
    from kefu.runtime.forms import PROBLEM_TEXTS

    pairs = {"form.required": "required", "form.badType": "type", "form.badPattern": "pattern",
             "form.badLength": "length", "form.badRange": "range", "form.badChoice": "choices"}
    for lang, server_locale in (("en", "en"), ("zh", "zh_CN")):
        for ours, theirs in pairs.items():
            assert catalogue(lang)[ours] == PROBLEM_TEXTS[server_locale][theirs], (lang, ours)
