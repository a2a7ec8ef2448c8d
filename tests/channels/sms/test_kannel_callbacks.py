"""Reading Kannel's MO and DLR calls, and building sendsms requests (no Kannel needed here;
test_kannel.py runs the real one)."""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import UTC, datetime

import pytest

from kefu.channels.sms.kannel import (
    KannelCallbackError,
    KannelError,
    KannelGateway,
    KannelSettings,
    parse_dlr,
    parse_mo,
)
from kefu.channels.sms.messages import DeliveryStatus
from tests.channels.sms.peers import free_port

# Exactly what Kannel 1.4.5 sent through the get-url template for a UCS-2 MO (captured).
UCS2_MO = ("from=10690756&to=13800138000&text=%60%A8Y%7D%00%2Cq%C3l%14b%A5O%EE%00+%D8%3D%DE%00"
           "&coding=2&charset=UTF-16BE&udh=&smsc=loop&id=a109cbc0-4096-4ad0-b29b-465482e94c27"
           "&ts=1795309247")


def mo(**params: str | None) -> str:
    """An MO query as Kannel builds it; a parameter given as None is left out."""
    base: dict[str, str | None] = {"from": "+8613800138000", "to": "10690756", "text": "TD", "coding": "0",
            "charset": "UTF-8", "udh": "", "smsc": "loop", "id": "m1", "ts": "1762308000"}
    base.update(params)
    return urllib.parse.urlencode({k: v for k, v in base.items() if v is not None})


def test_a_ucs2_mo_is_decoded_from_kannels_raw_bytes() -> None:
    message = parse_mo(UCS2_MO)
    assert message.text == "您好,燃气报修 😀"
    assert (message.sender, message.recipient, message.smsc_id) == ("10690756", "13800138000", "loop")
    assert message.gateway_message_id == "a109cbc0-4096-4ad0-b29b-465482e94c27"
    assert message.received_at == datetime.fromtimestamp(1795309247, UTC)
    assert message.gateway == "kannel"
    assert message.complete


def test_whitespace_and_newlines_of_a_gsm_mo_are_kept() -> None:
    message = parse_mo("from=1&to=2&text=hello++world%0Anext&coding=0&charset=UTF-8")
    assert message.text == "hello  world\nnext"


def test_the_query_may_be_bytes_as_a_web_framework_hands_it_over() -> None:
    assert parse_mo(UCS2_MO.encode()).text == "您好,燃气报修 😀"


@pytest.mark.parametrize(("query", "message"), [
    (mo(**{"from": None}), "Kannel MO is missing the 'from' parameter; check the URL template"),
    (mo(to=""), "Kannel MO parameter 'to' is empty"),
    (mo(text=None), "Kannel MO is missing the 'text' parameter"),
    (mo(coding="7"), "Kannel MO parameter 'coding' must be 0, 1 or 2, got 7"),
    (mo(coding="x"), "Kannel MO parameter 'coding' must be a number, got 'x'"),
    (mo(charset="KLINGON"), "MO charset 'KLINGON' is not one kefu knows"),
    (mo() + "&from=2", "Kannel MO parameter 'from' is given twice"),
    ("from=1&to=2&text=%FF%FE&coding=0&charset=UTF-8",
     "MO text is not valid UTF-8 \\(coding=0\\): invalid start byte at byte 0"),
    (mo(udh="\x05\x00\x03\x07\x02\x01"),
     "part 1 of 2 of a long message; set sms-combine-concatenated-mo = true"),
    (mo(udh="\x09"), "Kannel MO parameter 'udh' is invalid: UDH length 9"),
])
def test_a_bad_mo_call_names_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(KannelCallbackError, match=message):
        parse_mo(query)


def test_the_callback_secret_is_required_when_configured() -> None:
    assert parse_mo(mo(secret="s3cret"), secret="s3cret").text == "TD"
    for query in (mo(), mo(secret="guess")):
        with pytest.raises(KannelCallbackError, match="missing or wrong 'secret'"):
            parse_mo(query, secret="s3cret")


def test_an_oversized_callback_is_refused() -> None:
    with pytest.raises(KannelCallbackError, match="Kannel MO query string is 20097 characters; at most 16384"):
        parse_mo(mo(text="x" * 20_000))


def test_dlr_types_map_to_delivery_states() -> None:
    expected = {1: DeliveryStatus.DELIVERED, 2: DeliveryStatus.FAILED, 4: DeliveryStatus.PENDING,
                8: DeliveryStatus.ACCEPTED, 16: DeliveryStatus.FAILED}
    for dlr_type, status in expected.items():
        receipt = parse_dlr(f"ref=abc&type={dlr_type}&answer=ACK%2F&to=%2B8613800138000"
                            "&from=10690756&smsc=loop&ts=1762308000")
        assert (receipt.message_id, receipt.status) == ("abc", status)
        assert receipt.recipient == "+8613800138000"
        assert receipt.done_at == datetime(2025, 11, 5, 2, 0, tzinfo=UTC)


def test_a_failed_dlr_keeps_the_smscs_error_code() -> None:
    answer = urllib.parse.quote("id:77 sub:001 dlvrd:000 submit date:2511051000 done date:"
                                "2511051001 stat:UNDELIV err:034 text:hi")
    receipt = parse_dlr(f"ref=abc&type=2&answer={answer}")
    assert (receipt.status, receipt.error, receipt.state) == (DeliveryStatus.FAILED, "034", "undelivered")


@pytest.mark.parametrize(("query", "message"), [
    ("type=1", "Kannel DLR is missing the 'ref' parameter"),
    ("ref=a", "'type' must be one of 1 \\(delivered\\), 2 \\(undelivered\\).*got nothing"),
    ("ref=a&type=3", "'type' must be one of .* got 3"),
    ("ref=a&type=1&ts=soon", "Kannel DLR parameter 'ts' must be a number"),
])
def test_a_bad_dlr_call_names_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(KannelCallbackError, match=message):
        parse_dlr(query)


def test_sendsms_asks_for_ucs2_and_carries_a_dlr_url_with_kannels_escapes() -> None:
    gateway = KannelGateway(KannelSettings(
        "http://127.0.0.1:13013/cgi-bin/sendsms", "kefu", "pw",
        dlr_url="https://kefu.example.cn/sms/kannel/dlr", callback_secret="s", smsc_id="cmcc"))
    query = urllib.parse.parse_qs(gateway.sendsms_query(
        "+8613800138000", "燃气报修", sender="10690756", reference="r-1"))
    assert query["text"] == ["燃气报修"]
    assert query["coding"] == ["2"]
    assert query["charset"] == ["UTF-8"]
    assert query["smsc"] == ["cmcc"]
    assert query["dlr-mask"] == ["27"]
    assert query["dlr-url"] == ["https://kefu.example.cn/sms/kannel/dlr?ref=r-1&secret=s"
                                "&type=%d&answer=%A&to=%p&from=%P&smsc=%i&ts=%T"]
    english = urllib.parse.parse_qs(gateway.sendsms_query("1", "Hi {name}", sender="", reference="r"))
    assert "coding" not in english
    assert "from" not in english


def test_an_unreachable_kannel_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    gateway = KannelGateway(KannelSettings(f"http://127.0.0.1:{port}/cgi-bin/sendsms", "k", "p",
                                           timeout=2))
    with pytest.raises(KannelError, match=f"Kannel sendsms at 127.0.0.1:{port} is unreachable"):
        asyncio.run(gateway.send("+8613800138000", "hi"))


def test_settings_refuse_urls_that_are_not_http() -> None:
    with pytest.raises(ValueError, match="sendsms_url must be an http"):
        KannelSettings("file:///etc/passwd", "k", "p")
