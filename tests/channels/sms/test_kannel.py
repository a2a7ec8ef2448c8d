"""kefu's Kannel adapter against Kannel itself (Debian's bearerbox and smsbox).

Kannel runs with a loopback SMSC: every message kefu sends through sendsms comes straight
back as an inbound SMS, which smsbox hands to kefu's MO URL — served here by a small HTTP
server that calls :func:`parse_mo` — and every send produces a delivery report on the
dlr-url kefu built, read by :func:`parse_dlr`. All on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kefu.channels.sms.kannel import KannelGateway, KannelSendError, KannelSettings
from kefu.channels.sms.messages import DeliveryReceipt, DeliveryStatus, InboundSms
from tests.channels.sms.peers import WAIT, CallbackServer, Kannel

pytestmark = pytest.mark.slow

SECRET = "callback-secret"


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kannel, CallbackServer]]:
    tmp: Path = tmp_path_factory.mktemp("kannel")
    with CallbackServer(SECRET) as callbacks, Kannel(tmp, callbacks.base, SECRET, "sendpw") as kannel:
        yield kannel, callbacks


def gateway(kannel: Kannel, callbacks: CallbackServer, password: str = "sendpw") -> KannelGateway:
    return KannelGateway(KannelSettings(
        kannel.sendsms_url, "kefu", password, dlr_url=f"{callbacks.base}/sms/kannel/dlr",
        default_sender="10690756", callback_secret=SECRET, timeout=WAIT))


def wait_for(source: queue.Queue[Any], match: Any, kannel: Kannel) -> Any:
    """The first item ``match`` accepts; others are put back for the tests waiting on them."""
    others = []
    try:
        while True:
            try:
                item = source.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"nothing matching came back from Kannel\n{kannel.logs()}") from None
            if match(item):
                return item
            others.append(item)
    finally:
        for item in others:
            source.put(item)


def round_trip(peers: tuple[Kannel, CallbackServer], to: str, text: str) -> tuple[str, InboundSms]:
    kannel, callbacks = peers
    [reference] = asyncio.run(gateway(kannel, callbacks).send(to, text))
    inbound: InboundSms = wait_for(callbacks.inbound, lambda m: m.recipient == to, kannel)
    return reference, inbound


def test_an_english_message_comes_back_as_inbound_with_its_delivery_report(
        peers: tuple[Kannel, CallbackServer]) -> None:
    reference, inbound = round_trip(peers, "+447700900001", "Your engineer arrives at 3pm. Reply  STOP\nto opt out")
    assert inbound.text == "Your engineer arrives at 3pm. Reply  STOP\nto opt out"
    assert (inbound.sender, inbound.smsc_id, inbound.gateway) == ("10690756", "loop", "kannel")
    assert inbound.gateway_message_id
    receipt: DeliveryReceipt = wait_for(peers[1].receipts, lambda r: r.message_id == reference, peers[0])
    assert receipt.status is DeliveryStatus.ACCEPTED  # the loopback SMSC "accepted" it
    assert receipt.recipient == "+447700900001"
    assert peers[1].refused.empty()


def test_a_chinese_message_with_emoji_travels_as_ucs2_and_comes_back_intact(
        peers: tuple[Kannel, CallbackServer]) -> None:
    _, inbound = round_trip(peers, "+8613800000002", "您好,燃气报修已受理 👍 请保持电话畅通")
    assert inbound.text == "您好,燃气报修已受理 👍 请保持电话畅通"


def test_a_long_chinese_message_is_split_by_kannel_and_comes_back_whole(
        peers: tuple[Kannel, CallbackServer]) -> None:
    text = "尊敬的客户:您所在的香洲区人民路片区将于明日九时至十七时停气检修,请提前做好准备。" * 4
    _, inbound = round_trip(peers, "+8613800000003", text)
    assert inbound.text == text


def test_kannel_refusing_the_login_is_a_clear_error(peers: tuple[Kannel, CallbackServer]) -> None:
    kannel, callbacks = peers
    with pytest.raises(KannelSendError, match="HTTP 403 Authorization failed for sendsms") as refused:
        asyncio.run(gateway(kannel, callbacks, password="wrong").send("+8613800000004", "x"))
    assert refused.value.status == 403
