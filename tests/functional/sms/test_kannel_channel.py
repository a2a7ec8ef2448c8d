"""SMS in kefu through Kannel (Debian's bearerbox and smsbox), on 127.0.0.1.

kefu sends through Kannel's sendsms (``sms.kannel_sendsms_url``); Kannel's loopback SMSC turns
each message into an inbound one, which smsbox posts to kefu's ``/channels/kannel/mo`` —
served by kefu's real ASGI app on uvicorn — and each send's delivery report comes to
``/channels/kannel/dlr``. Sending to a tenant's own number therefore comes back into kefu as
an SMS to that tenant. A second Kannel routes to the Net::SMPP SMSC, whose receipts become
Kannel delivery reports.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kefu.platform.context import Platform
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.messaging.outbound import Outbox
from tests.channels.sms.peers import WAIT, Kannel
from tests.functional.sms.conftest import (
    DEMO_NUMBER,
    OTHER_CONFIG,
    OTHER_NUMBER,
    Site,
    Smsc,
    demo_files,
    wait_until,
)
from tests.integration.servers import ThreadedServer

SECRET = "kannel-callback-secret"
PASSWORD = "sendpw"
CHINESE_300 = ("尊敬的客户:您所在的香洲区人民路片区将于明日九时至十七时停气检修,"
               "请提前关闭燃气阀门并做好准备,如有疑问请回复本短信或致电客服热线。") * 5
CHINESE_300 = CHINESE_300[:300]


def web_server(site: Site) -> ThreadedServer:
    """kefu's web app on uvicorn, with a platform of its own over the same database (the
    server closes its platform's event bus when it stops)."""
    settings = site.platform.settings.with_overrides(**{"sms.kannel_secret": SECRET})
    return ThreadedServer(Platform(settings, engine=site.platform.engine))


class KefuKannel(Kannel):
    """Kannel configured for kefu's callback paths (peers.py serves its own test paths)."""

    def __init__(self, tmp: Path, callback: str, extra: str = "") -> None:
        super().__init__(tmp, callback, SECRET, PASSWORD)
        config = self.config.read_text().replace("/sms/kannel/mo?", "/channels/kannel/mo?")
        if extra:  # messages for the other SMSC must not take the loopback
            config = config.replace("smsc-id = loop\n", "smsc-id = loop\ndenied-smsc-id = perl\n")
        self.config.write_text(config + extra)


@pytest.fixture
def kannel_site(site: Site, monkeypatch: pytest.MonkeyPatch,
                tmp_path: Path) -> Iterator[tuple[Site, ThreadedServer, Kannel]]:
    server = web_server(site)
    with KefuKannel(tmp_path, server.http) as kannel:
        site.start(monkeypatch, **{
            "sms.kannel_sendsms_url": f"{kannel.sendsms_url}?username=kefu&password={PASSWORD}",
            "sms.kannel_secret": SECRET, "sms.kannel_callback_url": server.http})
        with server:
            yield site, server, kannel
        site.stop()


def write(site: Site, tenant: Any, to: str, text: str) -> uuid.UUID:
    """The tenant writes to ``to`` from its SMS number, as an agent's outbound message."""
    with tenant.session() as db:
        interaction = Interaction(channel=Channel.SMS, direction=Direction.OUTBOUND,
                                  from_address=DEMO_NUMBER, to_address=to)
        db.add(interaction)
        db.flush()
        message = Outbox(site.platform, db).reply(interaction, text)
        db.commit()
        return message.id


def inbound(site: Site, tenant: Any) -> list[Message]:
    return site.messages(tenant, Message.direction == Direction.INBOUND)


def call(server: ThreadedServer, path: str, query: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{server.http}{path}?{query}", timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_message_kefu_sends_comes_back_through_kannel_into_the_tenant_of_its_number(
        kannel_site: tuple[Site, ThreadedServer, Kannel]) -> None:
    site, _server, kannel = kannel_site
    demo = site.tenancy(demo_files())
    other = site.tenancy({"tenant.kefu": OTHER_CONFIG})

    sent = write(site, demo, OTHER_NUMBER, "Acme Gas here: meter swap at 3pm  \nConfirm?")
    [received] = wait_until(lambda: inbound(site, other), f"the MO\n{kannel.logs()}")
    assert received.body_text == "Acme Gas here: meter swap at 3pm  \nConfirm?"
    assert received.sender == DEMO_NUMBER
    assert received.headers["gateway"] == "kannel"
    [conversation] = site.interactions(other)
    assert (conversation.from_address, conversation.to_address) == (DEMO_NUMBER, OTHER_NUMBER)
    assert conversation.queue == "inbox"
    assert inbound(site, demo) == []  # tenant A only sent

    message = site.wait_message(demo, sent, lambda m: m.status != MessageStatus.QUEUED,
                                "the send")
    assert message.status == MessageStatus.SENT
    assert message.external_id == sent.hex  # the reference Kannel's reports name


def test_a_300_character_chinese_message_arrives_whole(
        kannel_site: tuple[Site, ThreadedServer, Kannel]) -> None:
    site, _server, kannel = kannel_site
    demo = site.tenancy(demo_files())
    other = site.tenancy({"tenant.kefu": OTHER_CONFIG})
    assert len(CHINESE_300) == 300
    write(site, demo, OTHER_NUMBER, CHINESE_300)  # Kannel splits it into five UCS-2 parts
    [received] = wait_until(lambda: inbound(site, other), f"the MO\n{kannel.logs()}")
    assert received.body_text == CHINESE_300


def test_kannel_callbacks_need_the_secret_and_name_what_is_wrong(
        kannel_site: tuple[Site, ThreadedServer, Kannel]) -> None:
    site, server, _kannel = kannel_site
    demo = site.tenancy(demo_files())
    mo = {"from": "+447700900123", "to": DEMO_NUMBER, "text": "hi", "coding": "0",
          "charset": "UTF-8", "secret": SECRET}

    assert call(server, "/channels/kannel/mo", urllib.parse.urlencode(
        {**mo, "secret": "guess"})) == (403, "missing or wrong 'secret' parameter\n")
    status, answer = call(server, "/channels/kannel/mo", urllib.parse.urlencode(
        {k: v for k, v in mo.items() if k != "from"}))
    assert (status, answer) == (400, "Kannel MO is missing the 'from' parameter; check the "
                                     "URL template in Kannel\n")
    status, answer = call(server, "/channels/kannel/mo", urllib.parse.urlencode(
        {**mo, "to": "+441632969999"}))
    assert (status, answer) == (404, "no tenant declares sms '+441632969999'\n")
    assert inbound(site, demo) == []

    status, answer = call(server, "/channels/kannel/mo", urllib.parse.urlencode(mo))
    assert status == 200
    assert [m.body_text for m in inbound(site, demo)] == ["hi"]


def test_a_delivery_report_reaches_only_its_own_tenants_message(
        kannel_site: tuple[Site, ThreadedServer, Kannel]) -> None:
    site, server, kannel = kannel_site
    demo = site.tenancy(demo_files())
    other = site.tenancy({"tenant.kefu": OTHER_CONFIG})
    sent = write(site, demo, "+447700900123", "Your engineer is on the way.")
    wait_until(lambda: site.message(demo, sent).status == MessageStatus.SENT,
               f"the send\n{kannel.logs()}")

    report = {"ref": sent.hex, "type": "1", "secret": SECRET}
    # Another tenant's id in the report finds nothing: the message is not theirs.
    assert call(server, "/channels/kannel/dlr", urllib.parse.urlencode(
        {**report, "tenant": str(other.tenant.id)}))[0] == 404
    assert site.message(demo, sent).status == MessageStatus.SENT
    assert call(server, "/channels/kannel/dlr", urllib.parse.urlencode(
        {**report, "tenant": "nobody"})) == (
        400, "Kannel DLR parameter 'tenant' must be a tenant id, got 'nobody'\n")


KANNEL_SMPP = """
# Messages routed to smsc-id "perl" go to the Net::SMPP SMSC, whose receipts become reports.
group = smsc
smsc = smpp
smsc-id = perl
allowed-smsc-id = perl
host = 127.0.0.1
port = {port}
transceiver-mode = true
smsc-username = kefu
smsc-password = secret
system-type = ""
"""


@pytest.fixture
def smpp_kannel_site(site: Site, smsc: Smsc, monkeypatch: pytest.MonkeyPatch,
                     tmp_path: Path) -> Iterator[tuple[Site, Kannel]]:
    server = web_server(site)
    extra = KANNEL_SMPP.format(port=smsc.peer.port)
    with KefuKannel(tmp_path, server.http, extra) as kannel:
        smsc.expect("BIND")
        site.start(monkeypatch, **{
            "sms.kannel_sendsms_url": (f"{kannel.sendsms_url}?username=kefu"
                                       f"&password={PASSWORD}&smsc=perl"),
            "sms.kannel_secret": SECRET, "sms.kannel_callback_url": server.http})
        with server:
            yield site, kannel
        site.stop()


def test_the_smscs_receipt_comes_back_through_kannel_and_marks_the_message_delivered(
        smpp_kannel_site: tuple[Site, Kannel], smsc: Smsc) -> None:
    site, kannel = smpp_kannel_site
    demo = site.tenancy(demo_files())
    sent = write(site, demo, "+447700900123", "Your engineer is on the way.")
    try:
        submit = smsc.expect("SUBMIT")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{kannel.logs()}") from None
    assert bytes.fromhex(submit[9]) == b"Your engineer is on the way."
    delivered = site.wait_message(demo, sent, lambda m: m.status == MessageStatus.DELIVERED,
                                  f"Kannel's delivery report\n{kannel.logs()}")
    assert delivered.delivered_at is not None
