"""Duty roles: the roles a tenant's own config declares (派送员, 值班长 ...) are given to members
through the users API, and ticket workflows allow transitions to members holding them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kefu.platform.identity.models import Role
from tests.functional.api.conftest import Actor, error, error_fields
from tests.functional.api.test_ticket_workflows import _deploy

ORDER = {"type": "送气", "subject": "两瓶液化气",
         "data": {"用户号": "20031000", "瓶数": 2, "送气地址": "香洲区凤凰路 1 号"}}


def test_a_member_with_a_duty_role_may_make_its_transitions(
        alice: Actor, factory: Any, actor: Callable[..., Actor]) -> None:
    _deploy(factory, alice, "gas")
    driver = actor(alice.tenant, Role.AGENT)
    ticket = driver.bearer.api("POST", "/tickets", ORDER, status=201).json
    url = f"/tickets/{ticket['id']}"

    refused = driver.bearer.api("PATCH", url, {"state": "已派送"}, status=403)
    assert "派送员" in error(refused)["message"]

    member = alice.bearer.api("PATCH", f"/users/{driver.user.id}",
                              {"duty_roles": ["派送员"]}).json
    assert member["duty_roles"] == ["派送员"]
    assert member["roles"] == ["agent"]
    moved = driver.bearer.api("PATCH", url, {"state": "已派送"}).json
    assert moved["state"] == "已派送"

    alice.bearer.api("PATCH", f"/users/{driver.user.id}", {"duty_roles": []})
    assert alice.bearer.api("GET", f"/users/{driver.user.id}").json["duty_roles"] == []


def test_only_roles_of_the_deployed_config_can_be_given(
        alice: Actor, factory: Any, actor: Callable[..., Actor]) -> None:
    member = actor(alice.tenant, Role.AGENT)
    refused = alice.bearer.api("PATCH", f"/users/{member.user.id}", {"duty_roles": ["值班长"]},
                               status=422)
    assert error_fields(refused) == ["duty_roles"]
    assert "no roles" in error(refused)["message"]
    _deploy(factory, alice, "gas")
    refused = alice.bearer.api("PATCH", f"/users/{member.user.id}", {"duty_roles": ["老板"]},
                               status=422)
    assert "值班长" in error(refused)["message"]  # the message lists the config's roles
    assert alice.bearer.api("GET", f"/users/{member.user.id}").json["duty_roles"] == []


def test_a_member_cannot_give_themself_a_duty_role(
        alice: Actor, factory: Any, actor: Callable[..., Actor]) -> None:
    _deploy(factory, alice, "gas")
    member = actor(alice.tenant, Role.AGENT)
    refused = member.bearer.api("PATCH", f"/users/{member.user.id}", {"duty_roles": ["值班长"]},
                                status=403)
    assert error(refused)["code"] == "forbidden"
