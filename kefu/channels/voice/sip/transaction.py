"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted states), sans-IO.

A :class:`TransactionLayer` holds the client and server transactions of one user agent. It
never touches a socket or a clock: the caller passes ``now`` (seconds, any monotonic origin)
into :meth:`~TransactionLayer.receive`, :meth:`~TransactionLayer.send_request`,
:meth:`~TransactionLayer.respond` and :meth:`~TransactionLayer.tick`, then drains
:attr:`~TransactionLayer.outbox` for :class:`Send` effects (bytes for the transport) and
transaction-user events (:class:`RequestReceived`, :class:`ResponseReceived`,
:class:`TimedOut`, :class:`AckReceived`). :meth:`~TransactionLayer.next_deadline` tells the
host when to call ``tick`` next.

Timers (T1 = 0.5 s, T2 = 4 s, T4 = 5 s; on reliable transports the retransmit timers are not
started and the wait timers are zero):

- INVITE client: A (retransmit, doubling), B (64·T1 give up), D (32 s absorb retransmitted
  final responses), M (64·T1, RFC 6026: pass retransmitted 2xx to the TU for a new ACK);
- non-INVITE client: E (retransmit, doubling up to T2), F (64·T1 give up), K (T4);
- INVITE server: G (retransmit the final response, doubling up to T2), H (64·T1 wait for ACK),
  I (T4 absorb ACK retransmissions), L (64·T1, RFC 6026, absorb INVITE retransmissions after
  a 2xx; the 2xx itself is retransmitted on G until its ACK, which ends with H: no ACK);
- non-INVITE server: J (64·T1 absorb request retransmissions).
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass, field
from enum import Enum

from kefu.channels.voice.sip.message import (
    BRANCH_COOKIE,
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
)

T1 = 0.5
T2 = 4.0
T4 = 5.0

Addr = tuple[str, int]


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)


class State(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Send:
    """Bytes for the transport to send to ``address``."""

    data: bytes
    address: Addr


@dataclass(frozen=True)
class RequestReceived:
    """A new request for the transaction user; answer it with ``layer.respond(txn, …)``."""

    request: Request
    transaction: ServerTransaction


@dataclass(frozen=True)
class ResponseReceived:
    response: Response
    transaction: ClientTransaction


@dataclass(frozen=True)
class TimedOut:
    """Timer B/F (no final response: act as if 408) or H (no ACK for our final response)."""

    transaction: ClientTransaction | ServerTransaction
    timer: str


@dataclass(frozen=True)
class AckReceived:
    """The ACK for a 2xx to an INVITE (it is its own transaction-less request)."""

    request: Request
    source: Addr


Event = Send | RequestReceived | ResponseReceived | TimedOut | AckReceived


@dataclass(eq=False)
class _Transaction:
    key: tuple[str, ...]
    request: Request
    address: Addr
    reliable: bool
    state: State
    timers: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, float] = field(default_factory=dict)

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED


@dataclass(eq=False)
class ClientTransaction(_Transaction):
    last_response: Response | None = None


@dataclass(eq=False)
class ServerTransaction(_Transaction):
    last_response: Response | None = None
    source: Addr = ("", 0)

    @property
    def response_bytes(self) -> bytes:
        assert self.last_response is not None
        return bytes(self.last_response)


class TransactionLayer:
    """Every transaction of one user agent; see the module docs for the I/O contract."""

    def __init__(self) -> None:
        self.outbox: list[Event] = []
        self.clients: dict[tuple[str, ...], ClientTransaction] = {}
        self.servers: dict[tuple[str, ...], ServerTransaction] = {}
        self._acks: dict[tuple[str, ...], ServerTransaction] = {}
        self._heap: list[tuple[float, int, _Transaction, str]] = []
        self._seq = itertools.count()

    # -- outputs -------------------------------------------------------------------------
    def drain(self) -> list[Event]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        while self._heap:
            when, _, txn, name = self._heap[0]
            if txn.timers.get(name) == when:
                return when
            heapq.heappop(self._heap)
        return None

    def _start(self, txn: _Transaction, name: str, when: float) -> None:
        txn.timers[name] = when
        heapq.heappush(self._heap, (when, next(self._seq), txn, name))

    def _terminate(self, txn: _Transaction) -> None:
        txn.state = State.TERMINATED
        txn.timers.clear()
        if isinstance(txn, ClientTransaction):
            self.clients.pop(txn.key, None)
        else:
            assert isinstance(txn, ServerTransaction)
            self.servers.pop(txn.key, None)
            ack_key = _ack_key(txn.request)
            if self._acks.get(ack_key) is txn:
                del self._acks[ack_key]

    # -- client side ---------------------------------------------------------------------
    def send_request(self, request: Request, address: Addr, now: float, *,
                     reliable: bool = False) -> ClientTransaction:
        """Start a client transaction for ``request`` (not ACK) and send it.

        The top Via must carry a ``z9hG4bK`` branch (one is added when missing).
        """
        if request.method == "ACK":
            raise ValueError("ACK is not sent in a transaction; use send_ack")
        via = request.top_via
        if not (via.branch or "").startswith(BRANCH_COOKIE):
            via.params["branch"] = new_branch()
            _replace_top_via(request.headers, str(via))
        key = (via.branch or "", request.method)
        state = State.CALLING if request.method == "INVITE" else State.TRYING
        txn = ClientTransaction(key, request, address, reliable, state)
        self.clients[key] = txn
        self.outbox.append(Send(bytes(request), address))
        retransmit, give_up = ("A", "B") if txn.is_invite else ("E", "F")
        if not reliable:
            txn.intervals[retransmit] = T1
            self._start(txn, retransmit, now + T1)
        self._start(txn, give_up, now + 64 * T1)
        return txn

    def send_ack(self, ack: Request, address: Addr) -> None:
        """Send an ACK for a 2xx (built by the dialog; it is not a transaction)."""
        self.outbox.append(Send(bytes(ack), address))

    def _client_response(self, response: Response, now: float) -> None:
        try:
            via = response.top_via
            key = (via.branch or "", response.cseq.method)
        except SipParseError:
            return
        txn = self.clients.get(key)
        if txn is None:
            return  # stray response (RFC 3261 §18.1.2): dropped
        status = response.status
        if txn.is_invite:
            if txn.state in (State.CALLING, State.PROCEEDING):
                txn.timers.pop("A", None)
                if status < 200:
                    txn.state = State.PROCEEDING
                    self.outbox.append(ResponseReceived(response, txn))
                elif status < 300:
                    txn.state = State.ACCEPTED
                    txn.timers.pop("B", None)
                    self._start(txn, "M", now + 64 * T1)
                    self.outbox.append(ResponseReceived(response, txn))
                else:
                    txn.state = State.COMPLETED
                    txn.timers.pop("B", None)
                    txn.last_response = response
                    self.outbox.append(Send(bytes(_ack_for(txn.request, response)),
                                            txn.address))
                    self._start(txn, "D", now + (0 if txn.reliable else 32.0))
                    self.outbox.append(ResponseReceived(response, txn))
            elif txn.state is State.ACCEPTED and 200 <= status < 300:
                self.outbox.append(ResponseReceived(response, txn))
            elif txn.state is State.COMPLETED and status >= 300:
                self.outbox.append(Send(bytes(_ack_for(txn.request, response)), txn.address))
            return
        if txn.state in (State.TRYING, State.PROCEEDING):
            if status < 200:
                txn.state = State.PROCEEDING
                self.outbox.append(ResponseReceived(response, txn))
            else:
                txn.state = State.COMPLETED
                txn.timers.pop("E", None)
                txn.timers.pop("F", None)
                txn.last_response = response
                self._start(txn, "K", now + (0 if txn.reliable else T4))
                self.outbox.append(ResponseReceived(response, txn))

    # -- server side ---------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Addr, now: float, *,
                reliable: bool = False) -> None:
        """Take one parsed message from the transport."""
        if isinstance(message, Response):
            self._client_response(message, now)
            return
        request = message
        if request.method == "ACK":
            self._server_ack(request, source, now)
            return
        key = _server_key(request)
        txn = self.servers.get(key)
        if txn is not None:
            # A retransmission: answer with the last response, if any (§17.2.1, §17.2.2).
            if txn.last_response is not None and txn.state in (
                    State.PROCEEDING, State.COMPLETED, State.ACCEPTED):
                self.outbox.append(Send(txn.response_bytes, txn.address))
            return
        state = State.PROCEEDING if request.method == "INVITE" else State.TRYING
        txn = ServerTransaction(key, request, _response_address(request, source), reliable,
                                state, source=source)
        self.servers[key] = txn
        self.outbox.append(RequestReceived(request, txn))

    def find_server(self, request: Request, method: str) -> ServerTransaction | None:
        """The server transaction ``request`` (a CANCEL) refers to, by branch and sent-by."""
        key = _server_key(request)
        return self.servers.get((key[0], key[1], method))

    def respond(self, txn: ServerTransaction, response: Response, now: float) -> None:
        """Send a response on a server transaction (the TU's only way to answer)."""
        if txn.state in (State.COMPLETED, State.CONFIRMED, State.TERMINATED, State.ACCEPTED):
            raise ValueError(f"transaction for {txn.request.method} already answered "
                             f"({txn.state.value})")
        txn.last_response = response
        self.outbox.append(Send(bytes(response), txn.address))
        status = response.status
        if status < 200:
            if txn.state is State.TRYING:
                txn.state = State.PROCEEDING
            return
        if not txn.is_invite:
            txn.state = State.COMPLETED
            self._start(txn, "J", now + (0 if txn.reliable else 64 * T1))
            return
        txn.state = State.ACCEPTED if status < 300 else State.COMPLETED
        if not txn.reliable:
            txn.intervals["G"] = T1
            self._start(txn, "G", now + T1)
        self._start(txn, "H", now + 64 * T1)
        if status < 300:
            self._acks[_ack_key(txn.request)] = txn
            self._start(txn, "L", now + 64 * T1)  # after H at the same instant

    def _server_ack(self, ack: Request, source: Addr, now: float) -> None:
        try:
            key = _server_key(ack)
        except SipParseError:
            return
        txn = self.servers.get((key[0], key[1], "INVITE"))
        if txn is not None and txn.state is State.COMPLETED:
            # ACK for a non-2xx final response: same branch as the INVITE.
            txn.state = State.CONFIRMED
            txn.timers.pop("G", None)
            txn.timers.pop("H", None)
            self._start(txn, "I", now + (0 if txn.reliable else T4))
            return
        if txn is not None and txn.state is State.CONFIRMED:
            return
        accepted = self._acks.pop(_ack_key(ack), None)
        if accepted is not None:
            accepted.timers.pop("G", None)
            accepted.timers.pop("H", None)
        self.outbox.append(AckReceived(ack, source))

    # -- time ----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        while self._heap and self._heap[0][0] <= now:
            when, _, txn, name = heapq.heappop(self._heap)
            if txn.timers.get(name) != when:
                continue
            del txn.timers[name]
            self._fire(txn, name, now)

    def _fire(self, txn: _Transaction, name: str, now: float) -> None:
        assert isinstance(txn, ClientTransaction | ServerTransaction)
        if name in ("A", "E"):
            self.outbox.append(Send(bytes(txn.request), txn.address))
            interval = txn.intervals[name] * 2
            if name == "E" or txn.state is State.PROCEEDING:
                interval = min(interval, T2)
            if name == "E" and txn.state is State.PROCEEDING:
                interval = T2
            txn.intervals[name] = interval
            self._start(txn, name, now + interval)
        elif name == "G":
            assert isinstance(txn, ServerTransaction)
            self.outbox.append(Send(txn.response_bytes, txn.address))
            txn.intervals["G"] = min(txn.intervals["G"] * 2, T2)
            self._start(txn, "G", now + txn.intervals["G"])
        elif name in ("B", "F"):
            self._terminate(txn)
            self.outbox.append(TimedOut(txn, name))
        elif name == "H":
            ack_key = _ack_key(txn.request)
            if isinstance(txn, ServerTransaction) and self._acks.get(ack_key) is txn:
                del self._acks[ack_key]
            if txn.state is State.ACCEPTED:
                txn.timers.pop("G", None)  # L still absorbs retransmitted INVITEs
            else:
                self._terminate(txn)
            self.outbox.append(TimedOut(txn, name))
        else:  # D, I, J, K, L, M: the transaction's wait is over
            self._terminate(txn)


def _server_key(request: Request) -> tuple[str, str, str]:
    via = request.top_via
    branch = via.branch or ""
    method = "INVITE" if request.method == "ACK" else request.method
    if branch.startswith(BRANCH_COOKIE):
        return (branch, via.sent_by, method)
    # RFC 2543 peers: fall back on the dialog identifiers and CSeq.
    cseq = request.cseq
    return (f"{request.call_id}|{request.from_.tag}|{cseq.number}", via.sent_by, method)


def _ack_key(request: Request) -> tuple[str, str]:
    return (request.call_id, str(request.cseq.number))


def _response_address(request: Request, source: Addr) -> Addr:
    """Where responses go: the request's source address (RFC 3581 symmetric response
    routing, which is what lets phones behind NAT work; RFC 3261 §18.2.2's Via host is only
    reachable without NAT, where it equals the source anyway)."""
    del request
    return source


def _replace_top_via(headers: Headers, value: str) -> None:
    headers.replace_first("Via", value)


def _ack_for(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same branch as the INVITE."""
    headers = Headers()
    via = invite.headers.get("Via")
    assert via is not None
    headers.add("Via", via)
    for name in ("Route",):
        for value in invite.headers.get_all(name):
            headers.add(name, value)
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} ACK")
    headers.add("Max-Forwards", "70")
    return Request("ACK", invite.uri, headers)


def error_response(request: Request, status: int, reason: str | None = None) -> Response:
    """A response for a request the TU refuses (no To tag needed for errors before dialogs,
    but RFC 3261 §8.2.6.2 asks for one; a random one is added)."""
    return make_response(request, status, reason, to_tag=secrets.token_hex(4))
