"""Screen pop: an offered interaction opens the customer's record by caller number (also in
national format), mailbox, SMS number or chat identity, with VIP and blacklist marks, where
the number is from, the history on every channel and open tickets; an unknown contact gets
the tenant's new-customer form prefilled. Another tenant's interaction does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu.platform.identity.models import Role
from tests.functional.api.conftest import (
    Actor,
    error,
)
from tests.functional.api.test_routing import deploy

CONFIG = """\
tenant shop {
  name "Shop"
  locales zh_CN, en
  timezone "Asia/Shanghai"
  customer_form new_customer
}

form new_customer "New customer" {
  field name text "Name" {
    required
  }
  field mobile phone "Mobile"
  field mail email "Email"
  field notes text "Notes"
}
"""


@pytest.fixture
def admin(actor: Callable[..., Actor]) -> Actor:
    return actor()


@pytest.fixture
def agent(actor: Callable[..., Actor], admin: Actor) -> Actor:
    return actor(admin.tenant, Role.AGENT)


def _customer(admin: Actor, **fields: Any) -> dict[str, Any]:
    return admin.bearer.api("POST", "/customers", fields, status=201).json


def _interaction(admin: Actor, **fields: Any) -> dict[str, Any]:
    return admin.bearer.api("POST", "/interactions", {"direction": "inbound", **fields},
                            status=201).json


def _say(admin: Actor, interaction: dict[str, Any], text: str) -> None:
    admin.bearer.api("POST", f"/interactions/{interaction['id']}/messages",
                     {"direction": "inbound", "body_text": text}, status=201)


def _pop(client: Any, interaction: dict[str, Any], status: int = 200) -> Any:
    return client.api("GET", f"/interactions/{interaction['id']}/screen-pop", status=status)


def test_a_known_vip_caller_in_national_format_pops_the_whole_record(
        admin: Actor, agent: Actor, factory: Any) -> None:
    zhang = _customer(admin, name="张三", is_vip=True, phones=[{"number": "+86 138 0013 8000"}],
                      emails=[{"address": "zhang@example.cn"}])
    other = _customer(admin, name="李四", phones=[{"number": "+8613700000000"}])
    mail = _interaction(admin, channel="email", customer_id=zhang["id"],
                        from_address="zhang@example.cn", subject="发票",
                        created_at="2026-11-01T08:00:00Z")
    _say(admin, mail, "请开发票")
    _say(admin, mail, "  谢谢，\n 已收到发票  ")
    sms = _interaction(admin, channel="sms", customer_id=zhang["id"],
                       from_address="+8613800138000", created_at="2026-11-10T08:00:00Z")
    _say(admin, sms, "燃气费" * 100)
    _interaction(admin, channel="voice", customer_id=other["id"], from_address="+8613700000000")
    repair = admin.bearer.api("POST", "/tickets", {
        "type": "repair", "subject": "燃气表坏了", "customer_id": zhang["id"],
        "resolve_due_at": "2026-12-01T00:00:00Z"}, status=201).json
    done = admin.bearer.api("POST", "/tickets", {
        "type": "enquiry", "subject": "营业时间", "customer_id": zhang["id"]}, status=201).json
    admin.bearer.api("PATCH", f"/tickets/{done['id']}", {"state": "closed"}, status=200)
    deploy(factory, admin.tenant, CONFIG)
    # The switch passes the caller's number as dialled at home: 0 + the mobile number.
    call = _interaction(admin, channel="voice", from_address="013800138000",
                        to_address="4008001234")

    pop = _pop(agent.web, call).json
    assert pop["identity"] == {"kind": "phone", "address": "013800138000"}
    assert pop["customer"]["id"] == zhang["id"]
    assert pop["customer"]["name"] == "张三"
    assert pop["marks"] == {"vip": True, "blacklisted": False, "blacklist_reason": None}
    assert pop["location"]["country"] == "China"
    assert (pop["location"]["carrier"], pop["location"]["line"]) == ("China Mobile", "mobile")
    # Newest first: this call, then 张三's earlier contacts on other channels (not 李四's).
    history = pop["history"]
    assert [(h["channel"], h["current"]) for h in history] == [
        ("voice", True), ("sms", False), ("email", False)]
    assert history[2]["last_message"] == "谢谢， 已收到发票"
    assert history[1]["last_message"].endswith("…")
    assert len(history[1]["last_message"]) == 200
    assert [(t["id"], t["workflow"], t["state"], t["title"], t["sla_due"])
            for t in pop["open_tickets"]] == [
        (repair["id"], "repair", repair["state"], "燃气表坏了", "2026-12-01T00:00:00Z")]
    assert pop["new_customer_form"] is None


def test_the_interactions_own_customer_and_history_include_this_contact(admin: Actor) -> None:
    wang = _customer(admin, name="Wang", emails=[{"address": "wang@example.com"}])
    mail = _interaction(admin, channel="email", customer_id=wang["id"],
                        from_address="Wang@Example.com")
    pop = _pop(admin.bearer, mail).json
    assert pop["identity"] == {"kind": "email", "address": "Wang@Example.com"}
    assert pop["customer"]["id"] == wang["id"]
    assert pop["location"] is None
    assert [(h["id"], h["current"]) for h in pop["history"]] == [(mail["id"], True)]


def test_records_typed_in_national_format_match_callers_in_e164(admin: Actor,
                                                                factory: Any) -> None:
    deploy(factory, admin.tenant, CONFIG)
    zhao = _customer(admin, name="赵六", phones=[{"number": "010 6552 9988"}])
    call = _interaction(admin, channel="voice", from_address="+861065529988")
    assert _pop(admin.web, call).json["customer"]["id"] == zhao["id"]


def test_a_blacklisted_number_is_marked_with_its_reason(admin: Actor) -> None:
    _customer(admin, name="Nuisance", is_blacklisted=True,
              blacklist_reason="repeated abusive calls", phones=[{"number": "+8613900000000"}])
    call = _interaction(admin, channel="voice", from_address="+8613900000000")
    pop = _pop(admin.web, call).json
    assert pop["marks"] == {"vip": False, "blacklisted": True,
                            "blacklist_reason": "repeated abusive calls"}


def test_an_unknown_caller_gets_the_new_customer_form_prefilled(admin: Actor,
                                                                factory: Any) -> None:
    deploy(factory, admin.tenant, CONFIG)
    earlier = _interaction(admin, channel="voice", from_address="010 6552 9988",
                           created_at="2026-11-01T08:00:00Z")
    call = _interaction(admin, channel="voice", from_address="010 6552 9988")
    pop = _pop(admin.web, call).json
    assert pop["customer"] is None
    assert pop["marks"] == {"vip": False, "blacklisted": False, "blacklist_reason": None}
    assert (pop["location"]["country"], pop["location"]["region"], pop["location"]["city"],
            pop["location"]["line"]) == ("China", "Beijing", "Beijing", "fixed")
    assert [h["id"] for h in pop["history"]] == [call["id"], earlier["id"]]
    assert pop["open_tickets"] == []
    assert pop["new_customer_form"] == {"form": "new_customer",
                                        "prefill": {"mobile": "010 6552 9988"}}


def test_unknown_mail_and_chat_visitors_prefill_what_they_told(admin: Actor,
                                                               factory: Any) -> None:
    deploy(factory, admin.tenant, CONFIG)
    mail = _interaction(admin, channel="email", from_address="new@example.org")
    pop = _pop(admin.web, mail).json
    assert pop["identity"]["kind"] == "email"
    assert pop["location"] is None
    assert pop["new_customer_form"] == {"form": "new_customer",
                                        "prefill": {"mail": "new@example.org"}}
    chat = _interaction(admin, channel="chat", from_address="visitor-7f3a",
                        data={"opened": {"variables": {"form": {
                            "name": "Mary", "email": "mary@example.com"}}}})
    pop = _pop(admin.web, chat).json
    assert pop["identity"] == {"kind": "chat", "address": "visitor-7f3a"}
    assert pop["new_customer_form"]["prefill"] == {"name": "Mary", "mail": "mary@example.com"}


def test_uk_numbers_of_a_london_tenant_and_no_form_without_customer_form(
        admin: Actor, factory: Any) -> None:
    deploy(factory, admin.tenant, 'tenant uk {\n  locales en\n  timezone "Europe/London"\n}\n')
    call = _interaction(admin, channel="sms", from_address="020 7946 0000")
    pop = _pop(admin.web, call).json
    assert pop["identity"]["kind"] == "sms"
    assert (pop["location"]["country"], pop["location"]["city"], pop["location"]["e164"]) == (
        "United Kingdom", "London", "+442079460000")
    assert pop["new_customer_form"] is None


def test_another_tenants_interaction_does_not_exist(admin: Actor,
                                                   actor: Callable[..., Actor]) -> None:
    zhang = _customer(admin, name="张三", is_vip=True, phones=[{"number": "+8613800138000"}])
    call = _interaction(admin, channel="voice", customer_id=zhang["id"],
                        from_address="+8613800138000")
    stranger = actor()
    # The stranger's tenant has a customer with the same number: not a way in either.
    _customer(stranger, name="Someone", phones=[{"number": "+8613800138000"}])
    for client in stranger.clients():
        response = _pop(client, call, status=404)
        assert error(response)["code"] == "not_found"
        assert "张三" not in response.text
    own = _interaction(stranger, channel="voice", from_address="+8613800138000")
    pop = _pop(stranger.web, own).json
    assert pop["customer"]["name"] == "Someone"
    assert [h["id"] for h in pop["history"]] == [own["id"]]
    _pop(stranger.web, {"id": "not-a-uuid"}, status=404)
