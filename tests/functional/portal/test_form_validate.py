"""POST /forms/{form}/validate checks answers with the DSL's rules and messages — the same
check a ticket of the form's workflow gets when it is opened — so the browser and the server
agree on what is valid."""

from __future__ import annotations

from typing import Any

from tests.functional.portal.portal_desk import (
    Desk,
    error,
)

GOOD = {"phone": "13912345678", "kind": "residential", "bottles": 2, "pin": "123456"}


def _problems(response: Any) -> dict[str, str]:
    return {f["field"]: f["message"] for f in error(response)["fields"]}


def test_valid_answers_pass(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    assert li.api("POST", "/forms/repair/validate", {"values": GOOD}, status=200).json == {
        "ok": True}


def test_each_broken_rule_is_named_with_the_dsl_message(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    response = li.api("POST", "/forms/repair/validate", {"values": {
        "phone": "12345", "kind": "business", "bottles": 7, "pin": "12",
        "colour": "red"}}, status=422)
    assert _problems(response) == {
        "values.phone": "Mobile numbers have 11 digits starting with 1.",
        "values.company": "Businesses give their company name.",
        "values.bottles": "At most 5 bottles per order.",
        "values.pin": "The PIN has six digits.",
        "values.colour": "This form has no field colour.",
    }
    assert error(response)["code"] == "validation_failed"


def test_a_conditional_field_counts_only_when_its_condition_holds(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    # company is asked only of businesses; a residential answer needs none.
    li.api("POST", "/forms/repair/validate", {"values": GOOD}, status=200)
    response = li.api("POST", "/forms/repair/validate",
                      {"values": {**GOOD, "kind": "business"}}, status=422)
    assert list(_problems(response)) == ["values.company"]
    li.api("POST", "/forms/repair/validate",
           {"values": {**GOOD, "kind": "business", "company": "Acme Ltd"}}, status=200)


def test_missing_required_and_wrong_types_use_the_stock_texts(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    response = li.api("POST", "/forms/repair/validate", {"values": {
        "kind": "residential", "bottles": "many", "pin": ["1"]}}, status=422)
    assert _problems(response) == {
        "values.phone": "Please give a phone number.",
        "values.bottles": "This is not a valid number.",
        "values.pin": "Give a single value (text, number or true/false).",
    }
    response = li.api("POST", "/forms/repair/validate", {"values": {
        **GOOD, "kind": "industrial", "company": "Acme Ltd"}}, status=422)
    assert _problems(response) == {
        "values.kind": "Choose one of: residential, business."}


def test_opening_a_ticket_applies_the_same_rules(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    response = li.api("POST", "/tickets", {"type": "repair_wf", "subject": "Leak",
                                           "data": {**GOOD, "bottles": 9}}, status=422)
    assert _problems(response) == {"data.bottles": "At most 5 bottles per order."}
    assert li.api("GET", "/tickets").json["total"] == 0
    ticket = li.api("POST", "/tickets", {"type": "repair_wf", "subject": "Leak",
                                         "data": {**GOOD, "note": "kept"}}, status=201).json
    assert ticket["state"] == "open"
    assert ticket["data"]["note"] == "kept"


def test_an_unknown_form_and_another_tenants_form_are_not_found(desk: Desk, actor: Any) -> None:
    _agent, li = desk.agent("Li Na")
    assert error(li.api("POST", "/forms/nope/validate", {"values": {}}, status=404))[
        "code"] == "not_found"
    stranger = actor()  # another tenant: nothing deployed, so no repair form
    stranger.bearer.api("POST", "/forms/repair/validate", {"values": GOOD}, status=404)


def test_the_body_must_carry_values(desk: Desk) -> None:
    _agent, li = desk.agent("Li Na")
    response = li.api("POST", "/forms/repair/validate", {"phone": "1"}, status=422)
    assert "values" in [f["field"] for f in error(response)["fields"]]
