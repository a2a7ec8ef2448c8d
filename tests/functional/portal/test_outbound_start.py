"""An agent starts an outbound SMS or email from the desktop: a new interaction held by the
agent from the start, its first message queued in the outbox from the tenant's declared
address, the customer found by the address; bad input and other tenants are refused."""

from __future__ import annotations

from typing import Any

from tests.functional.portal.portal_desk import (
    Desk,
    error,
)


def _start(client: Any, status: int = 201, **body: Any) -> Any:
    return client.api("POST", "/interactions/outbound", body, status=status)


def test_an_sms_goes_out_from_the_tenants_number_to_the_known_customer(desk: Desk) -> None:
    li_rec, li = desk.agent("Li Na")
    customer = desk.admin.bearer.api("POST", "/customers", {
        "name": "Wang Fang", "phones": [{"number": "+86 139 1234 5678"}]}, status=201).json

    out = _start(li, channel="sms", to="+86 139-1234-5678", text="Your engineer comes at 3pm.")
    interaction, message = out.json["interaction"], out.json["message"]
    assert (interaction["channel"], interaction["direction"], interaction["state"]) == (
        "sms", "outbound", "connected")
    assert interaction["agent_id"] == li_rec["id"]
    assert (interaction["from_address"], interaction["to_address"]) == ("+8613800000000",
                                                                        "+8613912345678")
    assert interaction["customer_id"] == customer["id"]
    assert (message["direction"], message["status"], message["body_text"]) == (
        "outbound", "queued", "Your engineer comes at 3pm.")
    assert message["recipients"] == ["+8613912345678"]
    assert message["author_agent_id"] == li_rec["id"]
    assert desk.triggers(interaction) == ["connect"]
    # It shows in the customer's cross-channel history.
    history = li.api("GET", f"/customers/{customer['id']}/messages").json["items"]
    assert [m["id"] for m in history] == [message["id"]]


def test_an_email_keeps_its_subject_and_is_finished_like_any_contact(desk: Desk) -> None:
    _li_rec, li = desk.agent("Li Na")
    out = _start(li, channel="email", to="Wang@Example.com", subject="Your repair",
                 text="We fixed the meter.").json
    interaction, message = out["interaction"], out["message"]
    assert interaction["from_address"] == "help@acme.example"
    assert interaction["to_address"] == "wang@example.com"
    # A new address becomes a new customer, as a first mail from it would.
    customer = li.api("GET", f"/customers/{interaction['customer_id']}").json
    assert customer["emails"][0]["address"] == "wang@example.com"
    assert message["subject"] == "Your repair"
    # The agent writes again in the same interaction, then finishes it.
    li.api("POST", f"/interactions/{interaction['id']}/reply", {"text": "P.S."}, status=201)
    done = li.api("POST", f"/interactions/{interaction['id']}/complete",
                  {"disposition": "resolved"}, status=200).json
    assert (done["state"], done["outcome"], done["disposition"]) == ("ended", "handled",
                                                                     "resolved")


def test_bad_input_is_named(desk: Desk) -> None:
    _li_rec, li = desk.agent("Li Na")
    for body, field in (
            ({"channel": "fax", "to": "+8613912345678", "text": "x"}, "channel"),
            ({"channel": "email", "to": "not-an-address", "text": "x"}, "to"),
            ({"channel": "sms", "to": "+8613912345678", "text": ""}, "text"),
            ({"channel": "sms", "to": "+8613912345678", "text": "x", "subject": "s"},
             "subject")):
        response = _start(li, status=422, **body)
        assert field in error(response)["message"], (body, error(response))
    assert li.api("GET", "/interactions").json["total"] == 0


def test_only_agents_start_outbound_messages_and_customers_stay_in_their_tenant(
        desk: Desk, actor: Any) -> None:
    # The tenant's admin has no agent record.
    response = _start(desk.admin.bearer, status=403, channel="sms", to="+8613912345678",
                      text="x")
    assert error(response)["code"] == "forbidden"
    stranger = actor()
    theirs = stranger.bearer.api("POST", "/customers", {"name": "Zhao"}, status=201).json
    _li_rec, li = desk.agent("Li Na")
    response = _start(li, status=422, channel="sms", to="+8613912345678", text="x",
                      customer_id=theirs["id"])
    assert error(response)["fields"][0]["field"] == "customer_id"


def test_a_channel_the_config_does_not_declare_cannot_send(actor: Any, factory: Any) -> None:
    from kefu.platform.identity.models import Role
    from tests.functional.portal.portal_desk import CONFIG, deploy

    admin = actor()
    deploy(factory, admin.tenant, CONFIG.replace('channel sms "+8613800000000" {\n'
                                                 '  queue billing\n}\n', ""))
    factory.platform.configs.invalidate(admin.tenant.id)
    person = actor(admin.tenant, Role.AGENT)
    admin.bearer.api("POST", "/agents", {"display_name": "Li", "user_id": str(person.user.id)},
                     status=201)
    response = _start(person.bearer, status=409, channel="sms", to="+8613912345678",
                      text="x")
    assert "declares no sms channel" in error(response)["message"]


def test_an_outbound_email_reaches_the_customer_and_the_answer_threads_back(
        system: Any, mail_tenant: Any, actor: Any) -> None:
    from kefu.channels.email.mime import parse_email
    from kefu.platform.identity.models import Role
    from tests.waiting import wait_until

    mailco = mail_tenant("help@mailco.test")
    admin = actor(mailco.tenant)
    person = actor(mailco.tenant, Role.AGENT)
    admin.bearer.api("POST", "/agents", {"display_name": "Li Na",
                                         "user_id": str(person.user.id)}, status=201)
    out = _start(person.bearer, channel="email", to="wang.fang@example.cn",
                 subject="Your meter", text="Your new meter is fitted on Monday.").json

    (delivered,) = wait_until(lambda: system.sent_to("wang.fang@example.cn"),
                              "the agent's mail at the relay")
    mail = parse_email(delivered.raw)
    assert mail.from_address.address == "help@mailco.test"
    assert mail.subject == "Your meter"
    assert mail.text.strip() == "Your new meter is fitted on Monday."
    sent = wait_until(lambda: next((m for m in mailco.messages() if m.status.value == "sent"),
                                   None), "the message marked sent")
    assert str(sent.interaction_id) == out["interaction"]["id"]

    # The customer answers the mail: it joins the agent's interaction.
    code, transcript = system.swaks(
        "--header", f"In-Reply-To: {mail.message_id}", "--header", "Subject: Re: Your meter",
        "--body", "Monday suits me.", sender="wang.fang@example.cn")
    assert code == 0, transcript
    answer = wait_until(lambda: next(iter(mailco.inbound()), None), "the customer's answer")
    assert str(answer.interaction_id) == out["interaction"]["id"]
