"""SIP transactions and their timers (RFC 3261 §17), driven by a clock the test holds."""

from __future__ import annotations

import pytest

from kefu.channels.voice.sip.message import Request, Response, make_response, parse_message
from kefu.channels.voice.sip.transaction import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    Send,
    State,
    TimedOut,
    TransactionLayer,
)

from .messages import invite, request

PEER = ("127.0.0.1", 5062)


def sends(events: list[object]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Send)]


def run_until(layer: TransactionLayer, until: float) -> list[tuple[float, object]]:
    """Fire timers in order up to ``until``; returns (time, event) for each output."""
    out: list[tuple[float, object]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.tick(deadline)
        out.extend((deadline, e) for e in layer.drain())
    return out


def client_request(method: str) -> Request:
    msg = parse_message(request(method, branch="x-no-cookie"))
    assert isinstance(msg, Request)
    return msg


def test_non_invite_client_retransmits_on_timer_e_and_gives_up_on_f() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(client_request("OPTIONS"), PEER, 0.0)
    assert txn.request.top_via.branch.startswith("z9hG4bK")  # a branch was added
    assert len(sends(layer.drain())) == 1
    events = run_until(layer, 40.0)
    times = [t for t, e in events if isinstance(e, Send)]
    # E doubles from T1 and caps at T2: 0.5, 1.5, 3.5, 7.5, 11.5, ...
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    timeouts = [(t, e) for t, e in events if isinstance(e, TimedOut)]
    assert [(t, e.timer) for t, e in timeouts] == [(32.0, "F")]
    assert txn.state is State.TERMINATED
    assert layer.next_deadline() is None


def test_non_invite_client_completes_and_absorbs_for_timer_k() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(client_request("OPTIONS"), PEER, 0.0)
    layer.drain()
    response = make_response(txn.request, 200, to_tag="t")
    layer.receive(parse_message(bytes(response)), PEER, 0.1)
    assert [type(e) for e in layer.drain()] == [ResponseReceived]
    # a retransmitted 200 is absorbed; nothing is re-sent
    layer.receive(parse_message(bytes(response)), PEER, 0.2)
    assert layer.drain() == []
    assert run_until(layer, 5.09) == []
    assert txn.state is State.COMPLETED
    run_until(layer, 5.1)
    assert txn.state is State.TERMINATED


def test_reliable_transport_has_no_retransmissions() -> None:
    layer = TransactionLayer()
    layer.send_request(client_request("OPTIONS"), PEER, 0.0, reliable=True)
    layer.drain()
    events = run_until(layer, 40.0)
    assert [(t, type(e)) for t, e in events] == [(32.0, TimedOut)]


def test_invite_client_timer_a_b_then_non_2xx_is_acked_on_the_same_branch() -> None:
    layer = TransactionLayer()
    inv = parse_message(invite())
    assert isinstance(inv, Request)
    txn = layer.send_request(inv, PEER, 0.0)
    layer.drain()
    events = run_until(layer, 3.6)
    assert [t for t, e in events if isinstance(e, Send)] == [0.5, 1.5, 3.5]
    layer.receive(parse_message(bytes(make_response(inv, 100))), PEER, 3.6)
    assert txn.state is State.PROCEEDING
    assert run_until(layer, 10.0) == []  # A stops once a provisional arrives
    busy = make_response(inv, 486, to_tag="b")
    layer.receive(parse_message(bytes(busy)), PEER, 10.0)
    out = layer.drain()
    acks = [parse_message(d) for d in sends(out)]
    assert [a.method for a in acks] == ["ACK"]  # type: ignore[union-attr]
    assert acks[0].top_via.branch == inv.top_via.branch
    assert acks[0].to.tag == "b"
    # a retransmitted 486 is ACKed again without bothering the TU (timer D)
    layer.receive(parse_message(bytes(busy)), PEER, 11.0)
    assert [type(e) for e in layer.drain()] == [Send]
    run_until(layer, 42.0)
    assert txn.state is State.TERMINATED


def test_invite_client_timer_b_reports_a_timeout() -> None:
    layer = TransactionLayer()
    inv = parse_message(invite())
    assert isinstance(inv, Request)
    layer.send_request(inv, PEER, 0.0)
    layer.drain()
    events = run_until(layer, 100.0)
    assert [(t, e.timer) for t, e in events if isinstance(e, TimedOut)] == [(32.0, "B")]


def test_invite_server_2xx_retransmits_on_g_until_the_ack() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(invite()), PEER, 0.0)
    (got,) = layer.drain()
    assert isinstance(got, RequestReceived)
    ok = make_response(got.request, 200, to_tag="k")
    layer.respond(got.transaction, ok, 0.0)
    assert len(sends(layer.drain())) == 1
    events = run_until(layer, 4.0)
    assert [t for t, e in events if isinstance(e, Send)] == [0.5, 1.5, 3.5]
    ack = invite().replace(b"INVITE sip", b"ACK sip").replace(b"INVITE\r\n", b"ACK\r\n") \
        .replace(b"z9hG4bK776asdhds", b"z9hG4bKack")
    layer.receive(parse_message(ack), PEER, 4.0)
    assert [type(e) for e in layer.drain()] == [AckReceived]
    assert [e for t, e in run_until(layer, 100.0) if isinstance(e, Send)] == []


def test_invite_server_without_ack_times_out_on_h() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(invite()), PEER, 0.0)
    (got,) = layer.drain()
    assert isinstance(got, RequestReceived)
    layer.respond(got.transaction, make_response(got.request, 200, to_tag="k"), 0.0)
    layer.drain()
    events = run_until(layer, 100.0)
    assert [(t, e.timer) for t, e in events if isinstance(e, TimedOut)] == [(32.0, "H")]
    # G retransmits capped at T2 = 4 s
    sent = [t for t, e in events if isinstance(e, Send)]
    assert sent[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]


def test_invite_server_non_2xx_ack_confirms_and_timer_i_ends_it() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(invite()), PEER, 0.0)
    (got,) = layer.drain()
    assert isinstance(got, RequestReceived)
    layer.respond(got.transaction, make_response(got.request, 486, to_tag="k"), 0.0)
    layer.drain()
    ack = invite().replace(b"INVITE sip", b"ACK sip").replace(b"INVITE\r\n", b"ACK\r\n")
    layer.receive(parse_message(ack), PEER, 0.7)
    assert layer.drain() == []  # the transaction absorbs it; the TU never sees it
    assert got.transaction.state is State.CONFIRMED
    run_until(layer, 5.69)
    assert got.transaction.state is State.CONFIRMED
    run_until(layer, 5.7)
    assert got.transaction.state is State.TERMINATED


def test_server_answers_retransmitted_requests_with_the_last_response() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(request("OPTIONS")), PEER, 0.0)
    (got,) = layer.drain()
    assert isinstance(got, RequestReceived)
    layer.respond(got.transaction, make_response(got.request, 200, to_tag="o"), 0.0)
    first = sends(layer.drain())
    layer.receive(parse_message(request("OPTIONS")), PEER, 1.0)
    assert sends(layer.drain()) == first
    run_until(layer, 31.9)
    assert got.transaction.state is State.COMPLETED
    run_until(layer, 32.0)  # timer J
    assert got.transaction.state is State.TERMINATED
    # after J the same branch is a new request again
    layer.receive(parse_message(request("OPTIONS")), PEER, 33.0)
    assert [type(e) for e in layer.drain()] == [RequestReceived]


def test_a_transaction_cannot_be_answered_twice() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(request("OPTIONS")), PEER, 0.0)
    (got,) = layer.drain()
    assert isinstance(got, RequestReceived)
    layer.respond(got.transaction, make_response(got.request, 200), 0.0)
    with pytest.raises(ValueError, match="already answered"):
        layer.respond(got.transaction, make_response(got.request, 500), 0.0)


def test_cancel_finds_the_invite_it_cancels() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(invite()), PEER, 0.0)
    (got,) = layer.drain()
    cancel = invite(body=b"").replace(b"INVITE sip", b"CANCEL sip").replace(
        b"INVITE\r\n", b"CANCEL\r\n")
    msg = parse_message(cancel)
    assert isinstance(msg, Request)
    assert layer.find_server(msg, "INVITE") is got.transaction  # type: ignore[union-attr]


def test_responses_to_unknown_transactions_are_dropped() -> None:
    layer = TransactionLayer()
    stray = Response(200, "OK")
    stray.headers.add("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnobody")
    stray.headers.add("CSeq", "1 OPTIONS")
    layer.receive(stray, PEER, 0.0)
    assert layer.drain() == []
