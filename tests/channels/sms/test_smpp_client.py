"""kefu's SMPP client against an SMSC written by others (Perl's Net::SMPP, tests/channels/sms/smsc.pl).

What kefu sends is decoded by Net::SMPP and reported back; what kefu receives was encoded by
Net::SMPP. Everything runs on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kefu.channels.sms.messages import DeliveryReceipt, DeliveryStatus, InboundSms
from kefu.channels.sms.smpp.client import (
    SmppClient,
    SmppNotBound,
    SmppSettings,
    SmppSubmitError,
)
from kefu.channels.sms.smpp.pdu import CommandStatus
from tests.channels.sms.peers import WAIT, PerlSmsc

LONG_CHINESE = "尊敬的客户您好,您的燃气报修已受理,维修人员将在两小时内上门,请保持电话畅通。" * 4


class Host:
    """The platform's side: stores what the client hands over (or fails to, when told)."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[InboundSms] = asyncio.Queue()
        self.receipts: asyncio.Queue[DeliveryReceipt] = asyncio.Queue()
        self.failures_left = 0
        self.gate: asyncio.Event | None = None

    async def on_message(self, message: InboundSms) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("database is down")
        await self.messages.put(message)

    async def on_receipt(self, receipt: DeliveryReceipt) -> None:
        await self.receipts.put(receipt)

    async def next_message(self) -> InboundSms:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def next_receipt(self) -> DeliveryReceipt:
        return await asyncio.wait_for(self.receipts.get(), WAIT)


def settings(smsc: PerlSmsc, **overrides: object) -> SmppSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": smsc.port, "system_id": "kefu", "password": "secret",
        "system_type": "KEFU", "default_sender": "10690756", "response_timeout": WAIT,
        "reconnect_initial_delay": 0.01, "reconnect_max_delay": 0.05,
    }
    values.update(overrides)
    return SmppSettings(**values)


Scenario = Callable[[PerlSmsc, SmppClient, Host], Awaitable[None]]


def run(scenario: Scenario, *, smsc_password: str = "secret", **overrides: object) -> None:
    async def main() -> None:
        async with PerlSmsc(password=smsc_password) as smsc:
            host = Host()
            client = SmppClient(settings(smsc, **overrides), on_message=host.on_message,
                                on_receipt=host.on_receipt)
            await client.start()
            try:
                await scenario(smsc, client, host)
            finally:
                await client.stop()
    asyncio.run(main())


def ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex()


def test_binds_as_transceiver_with_its_credentials() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        _, system_id, password, system_type, version, status = await smsc.expect("BIND")
        assert (system_id, password, system_type, version, status) == (
            "kefu", "secret", "KEFU", "34", "0")
        assert client.bound
    run(scenario)


def test_a_long_chinese_message_goes_out_as_ucs2_parts_the_smsc_can_put_together() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        ids = await client.send("+8613800138000", LONG_CHINESE)
        submits = [await smsc.expect("SUBMIT") for _ in ids]
        assert len(ids) == 3 == len(submits)
        assert ids == [submit[10] for submit in submits]  # the SMSC's ids, in part order
        payloads = {}
        for _, _seq, src_ton, src, dst_ton, dst, esm, coding, registered, data, _id in submits:
            assert (src_ton, src, dst_ton, dst) == ("0", "10690756", "1", "8613800138000")
            assert (esm, coding, registered) == ("64", "8", "1")  # UDH, UCS-2, receipt asked
            raw = bytes.fromhex(data)
            udh_length, element, _length, reference, total, number = raw[:6]
            assert (udh_length, element, total) == (5, 0, 3)
            assert len(raw) - 6 <= 134
            payloads[number] = (reference, raw[6:])
        assert len({reference for reference, _ in payloads.values()}) == 1
        text = b"".join(payloads[n][1] for n in sorted(payloads)).decode("utf-16-be")
        assert text == LONG_CHINESE
    run(scenario)


def test_delivery_receipts_name_the_ids_send_returned() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        [message_id] = await client.send("+8613800138000", "Your repair is booked.")
        receipt = await host.next_receipt()
        assert receipt.message_id == message_id
        assert receipt.status is DeliveryStatus.DELIVERED
        assert receipt.state == "DELIVRD"
        assert (receipt.recipient, receipt.sender) == ("+8613800138000", "10690756")
        sent = await smsc.expect("SENT_RECEIPT")
        assert (await smsc.expect("DELIVER_RESP"))[1:] == [sent[1], "0"]

        await smsc.send(f"RECEIPT {message_id} UNDELIV 5")
        failed = await host.next_receipt()
        assert (failed.message_id, failed.status) == (message_id, DeliveryStatus.FAILED)
    run(scenario)


def test_an_inbound_chinese_sms_is_acknowledged_only_after_the_host_stored_it() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        host.gate = asyncio.Event()
        await smsc.send(f"DELIVER 1 8613800138000 10690756 8 0 {ucs2('燃气泄漏,请尽快派人 🙏')}")
        sent = await smsc.expect("SENT_DELIVER")
        # The client answers this enquire_link while the host is still busy; TCP keeps order,
        # so had the deliver_sm_resp been sent already, the SMSC would have reported it first.
        await smsc.send("ENQUIRE")
        await smsc.expect("ENQUIRE_LINK_RESP")
        assert smsc.seen("DELIVER_RESP") == []
        host.gate.set()
        message = await host.next_message()
        assert (message.sender, message.recipient) == ("+8613800138000", "10690756")
        assert message.text == "燃气泄漏,请尽快派人 🙏"
        assert message.complete
        assert message.gateway == "smpp"
        assert (await smsc.expect("DELIVER_RESP"))[1:] == [sent[1], "0"]
    run(scenario)


def test_when_the_host_fails_the_smsc_is_told_to_retry_and_the_retry_is_stored() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        host.failures_left = 1
        deliver = f"DELIVER 1 8613800138000 10690756 0 0 {b'TD'.hex()}"
        await smsc.send(deliver)
        assert (await smsc.expect("DELIVER_RESP"))[2] == str(int(CommandStatus.ESME_RX_T_APPN))
        assert host.messages.empty()
        await smsc.send(deliver)  # what an SMSC does after a temporary error
        assert (await smsc.expect("DELIVER_RESP"))[2] == "0"
        assert (await host.next_message()).text == "TD"
    run(scenario)


def test_long_inbound_message_is_reassembled_from_parts_arriving_out_of_order() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        text = "我家厨房燃气表漏气,地址是香洲区人民路一百号三栋二单元五零一,请师傅尽快上门检查维修,谢谢!" * 3
        units = text.encode("utf-16-be")
        chunks = [units[i:i + 134] for i in range(0, len(units), 134)]
        assert len(chunks) == 3
        for number in (3, 1, 2):
            udh = bytes((5, 0, 3, 0x42, 3, number))
            await smsc.send(f"DELIVER 1 8613800138000 10690756 8 64 {(udh + chunks[number - 1]).hex()}")
        message = await host.next_message()
        assert (message.text, message.parts, message.complete) == (text, 3, True)
        statuses = [(await smsc.expect("DELIVER_RESP"))[2] for _ in range(3)]
        assert statuses == ["0", "0", "0"]
        assert host.messages.empty()
    run(scenario)


def test_parts_marked_with_sar_parameters_are_reassembled_too() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        first, second = "Hello, the gas smell is ", "still there. Please come."
        await smsc.send(f"DELIVER_SAR 1 447700900123 10690756 0 300 2 2 {second.encode().hex()}")
        await smsc.send(f"DELIVER_SAR 1 447700900123 10690756 0 300 2 1 {first.encode().hex()}")
        message = await host.next_message()
        assert (message.sender, message.text, message.parts) == (
            "+447700900123", first + second, 2)
    run(scenario)


def test_a_message_kefu_cannot_read_is_refused_for_good_and_the_client_keeps_serving() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        await smsc.send("DELIVER 1 8613800138000 10690756 4 0 00ff10")  # 8-bit binary
        assert (await smsc.expect("DELIVER_RESP"))[2] == str(int(CommandStatus.ESME_RX_P_APPN))
        await smsc.send("DELIVER 1 8613800138000 10690756 0 64 ff")  # UDH longer than message
        assert (await smsc.expect("DELIVER_RESP"))[2] == str(int(CommandStatus.ESME_RX_P_APPN))
        await smsc.send(f"DELIVER 1 8613800138000 10690756 0 0 {b'hello'.hex()}")
        assert (await host.next_message()).text == "hello"
        assert client.binds == 1
    run(scenario)


def test_malformed_pdus_get_a_clear_error_answer_and_the_link_stays_up() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        await smsc.send("RAW 00000010000000990000000000000007")  # unknown command id
        assert (await smsc.expect("GENERIC_NACK"))[1:] == ["7", str(int(CommandStatus.ESME_RINVCMDID))]
        # deliver_sm whose body stops in the middle of service_type
        await smsc.send("RAW 000000120000000500000000000000086162")
        assert (await smsc.expect("DELIVER_RESP"))[1:] == ["8", str(int(CommandStatus.ESME_RINVMSGLEN))]
        [message_id] = await client.send("+8613800138000", "still here")
        assert message_id == (await smsc.expect("SUBMIT"))[10]
        assert client.binds == 1
    run(scenario)


def test_a_broken_command_length_drops_the_link_and_the_client_binds_again() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        await smsc.expect("BIND")
        await smsc.send("RAW 00000008000000050000000000000009")  # length 8 < header size
        assert (await smsc.expect("GENERIC_NACK"))[1:] == ["9", str(int(CommandStatus.ESME_RINVCMDLEN))]
        await smsc.expect("CLOSED")
        await smsc.expect("BIND")
        assert await client.send("+8613800138000", "back again")
        assert client.binds == 2
    run(scenario)


def test_enquire_link_keeps_the_link_checked_both_ways() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await smsc.expect("ENQUIRE_LINK")  # the client's own keepalive, answered by the SMSC
        await smsc.expect("ENQUIRE_LINK")  # and again: the link is still up
        await smsc.send("ENQUIRE")
        sequence = (await smsc.expect("SENT_ENQUIRE"))[1]
        assert (await smsc.expect("ENQUIRE_LINK_RESP"))[1] == sequence
    run(scenario, enquire_link_interval=0.05)


def test_when_the_smsc_drops_the_link_the_client_reconnects_and_sends_again() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        await smsc.expect("BIND")
        await smsc.send("DROP")
        await smsc.expect("CLOSED")
        await smsc.expect("BIND")
        [message_id] = await client.send("+8613800138000", "after the reconnect")
        assert message_id == (await smsc.expect("SUBMIT"))[10]
        assert client.binds == 2
    run(scenario)


def test_a_refused_submit_raises_with_the_smsc_status() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        await client.wait_bound(WAIT)
        await smsc.send(f"SUBMIT_STATUS {int(CommandStatus.ESME_RSUBMITFAIL)}")
        await smsc.expect("SUBMIT_STATUS_SET")
        with pytest.raises(SmppSubmitError, match="ESME_RSUBMITFAIL") as refused:
            await client.send("+8613800138000", "x")
        assert refused.value.status == CommandStatus.ESME_RSUBMITFAIL
        assert refused.value.accepted == []
        assert await client.send("+8613800138000", "y")  # the next one goes through
    run(scenario)


def test_concurrent_sends_share_the_window_and_all_get_ids() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        results = await asyncio.gather(*(
            client.send(f"+86138001380{n:02d}", f"notice {n}") for n in range(20)))
        ids = [message_id for result in results for message_id in result]
        assert len(ids) == len(set(ids)) == 20
    run(scenario, window=3)


def test_a_wrong_password_is_refused_and_retried_with_backoff_until_stopped() -> None:
    async def scenario(smsc: PerlSmsc, client: SmppClient, host: Host) -> None:
        first = await smsc.expect("BIND")
        again = await smsc.expect("BIND")
        assert first[-1] == again[-1] == str(int(CommandStatus.ESME_RINVPASWD))
        assert not client.bound
        with pytest.raises(SmppNotBound, match="not bound"):
            await client.send("+8613800138000", "x")
    run(scenario, smsc_password="other", response_timeout=0.2)


def test_stop_unbinds_politely() -> None:
    async def main() -> None:
        async with PerlSmsc() as smsc:
            host = Host()
            async with SmppClient(settings(smsc), on_message=host.on_message,
                                  on_receipt=host.on_receipt) as client:
                await client.wait_bound(WAIT)
            await smsc.expect("UNBIND")
            assert not client.bound
    asyncio.run(main())


def test_a_silent_smsc_is_abandoned_and_tried_again() -> None:
    async def main() -> None:
        connections = 0
        reached_twice = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            if connections >= 2:
                reached_twice.set()
            await reader.read()  # never answers the bind
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        host = Host()
        client = SmppClient(
            SmppSettings("127.0.0.1", port, "kefu", "secret", response_timeout=0.05,
                         reconnect_initial_delay=0.01, reconnect_max_delay=0.02),
            on_message=host.on_message, on_receipt=host.on_receipt)
        await client.start()
        await asyncio.wait_for(reached_twice.wait(), WAIT)
        assert not client.bound
        await client.stop()
        server.close()
        await server.wait_closed()
    asyncio.run(main())
