"""kefu's SIP user agent: answers and places calls, registers phones, carries their media.

:class:`UserAgent` joins the sans-IO SIP core (:mod:`.sip`) to the asyncio transports
(:mod:`.transport`) and the media clock (:mod:`.media.session`):

- INVITE → 100 Trying, the SDP offer is checked (488 when nothing fits), an RTP leg is opened
  and the host's ``on_call(call)`` coroutine runs with a :class:`Call`: it may
  :meth:`~Call.answer`, :meth:`~Call.reject`, play prompts, read DTMF (RFC 4733 and SIP INFO),
  bridge, hold and hang up. A CANCEL before the answer ends it with 487.
- BYE, re-INVITE (hold/resume from the peer), INFO (DTMF), REFER (a phone's blind transfer,
  handed to ``call.on_refer``), OPTIONS (200 with what we allow) and REGISTER (the
  :class:`~.sip.registrar.Registrar`, digest auth and bans).
- :meth:`UserAgent.dial` places a call (to an agent's registered phone or a trunk), answering a
  401/407 challenge with the credentials given.
- Malformed requests get a 400 naming the problem when their Via/From/To/Call-ID/CSeq can be
  read, else they are dropped; either way with a log line, and the stack keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kefu.channels.voice.media.session import Bridge, MediaClock, PortPool, RtpSession
from kefu.channels.voice.media.wav import StereoRecorder
from kefu.channels.voice.sdp import (
    LocalMedia,
    NotAcceptable,
    SdpError,
    answer,
    build_offer,
    negotiate,
    parse_sdp,
)
from kefu.channels.voice.sip.auth import answer_challenge
from kefu.channels.voice.sip.dialog import ALLOW, Dialog, new_call_id, new_request, new_tag
from kefu.channels.voice.sip.message import (
    Address,
    Request,
    Response,
    SipParseError,
    Uri,
    make_response,
    parse_message,
)
from kefu.channels.voice.sip.registrar import Registrar
from kefu.channels.voice.sip.transaction import (
    AckReceived,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    Send,
    ServerTransaction,
    TimedOut,
    TransactionLayer,
)
from kefu.channels.voice.transport import SipTransport

log = logging.getLogger(__name__)

Addr = tuple[str, int]
CallHandler = Callable[["Call"], Awaitable[None]]
#: How long an answered call waits for the caller's ACK before it is given up (64·T1).
ACK_WAIT = 32.0
REQUEST_TIMEOUT = 40.0
#: A connected call that has received no RTP for this long is hung up (the peer vanished
#: without a BYE); calls the peer holds are exempt. How often that is checked.
MEDIA_TIMEOUT = 60.0
WATCHDOG_SECONDS = 5.0


class CallFailed(Exception):
    """An outgoing call that did not connect.

    Attributes:
        status: the final SIP status (408 for no answer at all).
        reason: its reason phrase.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class CallEnded(Exception):
    """The call ended while something waited on it."""


@dataclass(frozen=True)
class DtmfDigit:
    digit: str
    via: str  # "rfc4733" or "info"


class Call:
    """One call leg kefu is a party to (incoming or outgoing)."""

    def __init__(self, ua: UserAgent, session: RtpSession, *, incoming: bool,
                 invite: Request, remote: Addr, reliable: bool) -> None:
        self.id = secrets.token_hex(6)
        self.ua = ua
        self.session = session
        self.incoming = incoming
        self.invite = invite
        self.remote = remote
        self.reliable = reliable
        self.local_tag = new_tag()
        self.dialog: Dialog | None = None
        self.server_txn: ServerTransaction | None = None
        self.client_txn: ClientTransaction | None = None
        self.state = "new"
        self.local_media = LocalMedia(ua.rtp_host, session.port)
        self.offer_answer: bytes = b""
        self.digits: asyncio.Queue[DtmfDigit] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.peer_hold = False
        self.local_hold = False
        self.on_hold_change: Callable[[Call, bool], None] | None = None
        self.on_refer: Callable[[Call, str], Awaitable[bool]] | None = None
        self._acked = asyncio.Event()
        self._prompts: dict[object, asyncio.Future[bool]] = {}
        session.on_digit = lambda d: self.digits.put_nowait(DtmfDigit(d, "rfc4733"))
        session.on_prompt_done = self._prompt_done

    # -- who -----------------------------------------------------------------------------
    @property
    def caller(self) -> str:
        """The calling party's user part (a number for PSTN calls)."""
        user = self.invite.from_.uri.user
        return user or ""

    @property
    def called(self) -> str:
        """The dialled number (the Request-URI's user, else To's): the DID for inbound."""
        return self.invite.uri.user or self.invite.to.uri.user or ""

    def __repr__(self) -> str:
        return f"<Call {self.id} {'in' if self.incoming else 'out'} {self.state}>"

    # -- answering -----------------------------------------------------------------------
    async def ringing(self) -> None:
        if self.server_txn is not None and self.state == "new":
            self.state = "ringing"
            self.ua._respond(self.server_txn, make_response(
                self.invite, 180, to_tag=self.local_tag,
                headers=[("Contact", str(self.ua.contact(self.reliable)))]))

    async def answer(self) -> None:
        """Answer with our SDP and wait for the ACK.

        Raises:
            CallEnded: the caller cancelled or hung up, or never sent the ACK.
        """
        if self.ended.is_set() or self.server_txn is None:
            raise CallEnded(self.end_reason or "call is not ringing")
        if self.state == "connected":
            return
        contact = self.ua.contact(self.reliable)
        self.dialog = Dialog.from_uas(self.invite, self.local_tag, contact,
                                      via_transport="TCP" if self.reliable else "UDP",
                                      via_sent_by=self.ua.sent_by)
        self.ua._dialogs[self.dialog.id] = self
        self.state = "connected"
        self.ua._respond(self.server_txn, make_response(
            self.invite, 200, to_tag=self.local_tag, body=self.offer_answer,
            headers=[("Contact", str(contact)), ("Allow", ALLOW),
                     ("Content-Type", "application/sdp")]))
        ack = asyncio.ensure_future(self._acked.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        done, pending = await asyncio.wait({ack, ended}, timeout=ACK_WAIT,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if ack not in done:
            await self.hangup("no ACK")
            raise CallEnded(self.end_reason)

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        if self.server_txn is not None and self.state in ("new", "ringing"):
            self.ua._respond(self.server_txn,
                             make_response(self.invite, status, reason, to_tag=self.local_tag))
            self._end(f"rejected {status}")

    # -- media ---------------------------------------------------------------------------
    async def play(self, pcm: bytes) -> bool:
        """Play 8 kHz 16-bit mono PCM; True when it played to the end (False: stopped or the
        call ended)."""
        if self.ended.is_set():
            return False
        token = object()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._prompts[token] = future
        self.session.prompts.enqueue(pcm, token)
        return await future

    def _prompt_done(self, token: object) -> None:
        future = self._prompts.pop(token, None)
        if future is not None and not future.done():
            future.set_result(True)

    def stop_prompts(self) -> None:
        for token in self.session.prompts.clear():
            future = self._prompts.pop(token, None)
            if future is not None and not future.done():
                future.set_result(False)

    async def next_digit(self, timeout: float) -> DtmfDigit | None:
        """The next key the caller pressed, or None after ``timeout`` s (or on hangup)."""
        if not self.digits.empty():
            return self.digits.get_nowait()
        get = asyncio.ensure_future(self.digits.get())
        ended = asyncio.ensure_future(self.ended.wait())
        done, pending = await asyncio.wait({get, ended}, timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if get in done:
            return get.result()
        return None

    def send_dtmf(self, digits: str) -> None:
        self.session.dtmf_out.send(digits)

    # -- in-dialog requests --------------------------------------------------------------
    async def hold(self) -> None:
        """Put the peer on hold (re-INVITE with a=sendonly)."""
        await self._reinvite("sendonly")
        self.local_hold = True

    async def resume(self) -> None:
        await self._reinvite("sendrecv")
        self.local_hold = False

    async def _reinvite(self, direction: str) -> None:
        if self.dialog is None or self.ended.is_set():
            raise CallEnded("call is not connected")
        offer = bytes(build_offer(self.local_media, direction=direction))
        request = self.dialog.request("INVITE", body=offer, content_type="application/sdp")
        response = await self.ua.request(request, self.remote, reliable=self.reliable)
        if 200 <= response.status < 300:
            self.ua._send_ack(self.dialog.ack(request.cseq.number), self.remote, self.reliable)
            with contextlib.suppress(SdpError, NotAcceptable):
                self.session.apply(negotiate(parse_sdp(response.body)))
            if direction != "sendrecv":
                self.session.sending = False
        elif response.status >= 300:
            raise CallFailed(response.status, response.reason)

    async def info(self, body: bytes, content_type: str) -> Response:
        if self.dialog is None:
            raise CallEnded("call is not connected")
        return await self.ua.request(self.dialog.request("INFO", body=body,
                                                         content_type=content_type),
                                     self.remote, reliable=self.reliable)

    async def hangup(self, reason: str = "local hangup") -> None:
        """End the call: BYE when connected, 480 when still ringing, CANCEL when dialling."""
        if self.ended.is_set():
            return
        if self.dialog is not None and self.state == "connected":
            bye = self.dialog.request("BYE")
            self._end(reason)
            with contextlib.suppress(CallFailed, TimeoutError):
                await asyncio.wait_for(self.ua.request(bye, self.remote,
                                                       reliable=self.reliable), 10)
            return
        if self.incoming and self.server_txn is not None:
            self.ua._respond(self.server_txn, make_response(self.invite, 480,
                                                            to_tag=self.local_tag))
            self._end(reason)
            return
        if not self.incoming and self.client_txn is not None:
            await self.ua._cancel(self)
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.ended.is_set():
            return
        self.state = "ended"
        self.end_reason = reason
        for future in self._prompts.values():
            if not future.done():
                future.set_result(False)
        self._prompts.clear()
        self.session.close()
        self.ua._forget(self)
        self.ended.set()


class UserAgent:
    """The SIP user agent of one runtime process.

    Args:
        host: the address to bind SIP and RTP on.
        port: the SIP port (UDP and TCP; 0 picks one).
        public_host: the address written in Via/Contact/SDP (default ``host``).
        rtp_ports: the RTP port range ``(low, high)``.
        registrar: accepts REGISTER (None: REGISTER gets 405).
        on_call: runs for every new incoming call.
    """

    def __init__(self, *, host: str, port: int, public_host: str | None = None,
                 rtp_ports: tuple[int, int] = (20000, 30000),
                 registrar: Registrar | None = None, on_call: CallHandler | None = None,
                 tcp: bool = True, user: str = "kefu", clock: MediaClock | None = None) -> None:
        self.host = host
        self.public_host = public_host or host
        self.rtp_host = self.public_host
        self.ports = PortPool(*rtp_ports)
        self.registrar = registrar
        self.on_call = on_call
        self.user = user
        self.clock = clock or MediaClock()
        self.layer = TransactionLayer()
        self.transport = SipTransport(host, port, self._on_bytes, tcp=tcp)
        self.calls: dict[str, Call] = {}
        self._dialogs: dict[tuple[str, str, str], Call] = {}
        self._pending: dict[int, Call] = {}  # id(server txn) -> call, for CANCEL
        self._waiters: dict[ClientTransaction, Callable[[Response], None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.malformed = 0
        self.media_timeout = MEDIA_TIMEOUT

    @property
    def port(self) -> int:
        return self.transport.port

    @property
    def sent_by(self) -> str:
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"{host}:{self.port}"

    def contact(self, reliable: bool = False) -> Address:
        params: dict[str, str | None] = {"transport": "tcp"} if reliable else {}
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return Address(Uri("sip", self.user, host, self.port, params))

    async def start(self) -> None:
        await self.transport.start()
        self._spawn(self._watchdog(), "media-watchdog")
        log.info("SIP user agent on %s:%s (UDP%s)", self.host, self.port,
                 "+TCP" if self.transport.with_tcp else "")

    async def stop(self) -> None:
        calls = list(self.calls.values())
        if calls:
            await asyncio.wait([asyncio.ensure_future(call.hangup("shutdown"))
                                for call in calls], timeout=2)
        for call in calls:
            call._end("shutdown")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._timer is not None:
            self._timer.cancel()
        self.clock.stop()
        await self.transport.close()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            now = self._now()
            for call in list(self.calls.values()):
                if (call.state == "connected" and not call.peer_hold
                        and now - call.session.last_received > self.media_timeout):
                    log.info("call %s: no RTP for %.0f s; hanging up", call.id,
                             now - call.session.last_received)
                    self._spawn(call.hangup("media timeout"), f"timeout-{call.id}")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP task %s failed", task.get_name(), exc_info=task.exception())

    # -- the transaction layer's I/O --------------------------------------------------------
    def _on_bytes(self, data: bytes, source: Addr, reliable: bool) -> None:
        try:
            message = parse_message(data, stream=reliable)
        except SipParseError as exc:
            self._malformed(data, source, reliable, exc)
            return
        self.layer.receive(message, source, self._now(), reliable=reliable)
        self._flush()

    def _malformed(self, data: bytes, source: Addr, reliable: bool, exc: SipParseError) -> None:
        self.malformed += 1
        reply = bad_request(data, exc)
        log.warning("malformed SIP from %s:%s: %s%s", source[0], source[1], exc,
                    "; answered 400" if reply else "; dropped")
        if reply is not None:
            self.transport.send(reply, source, reliable=reliable)

    def _respond(self, txn: ServerTransaction, response: Response) -> None:
        self.layer.respond(txn, response, self._now())
        self._flush()

    def _send_ack(self, ack: Request, address: Addr, reliable: bool) -> None:
        self.transport.send(bytes(ack), address, reliable=reliable)

    def _flush(self) -> None:
        while self.layer.outbox:
            for event in self.layer.drain():
                self._dispatch(event)
        deadline = self.layer.next_deadline()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.layer.tick(self._now())
        self._flush()

    def _dispatch(self, event: object) -> None:  # noqa: PLR0912 - one branch per event
        if isinstance(event, Send):
            self.transport.send(event.data, event.address)
        elif isinstance(event, RequestReceived):
            self._request(event.request, event.transaction)
        elif isinstance(event, ResponseReceived):
            waiter = self._waiters.get(event.transaction)
            if waiter is not None:
                waiter(event.response)
        elif isinstance(event, TimedOut):
            if isinstance(event.transaction, ClientTransaction):
                waiter = self._waiters.pop(event.transaction, None)
                if waiter is not None:
                    waiter(Response(408, "Request Timeout"))
            elif event.timer == "H":
                call = self._pending.get(id(event.transaction))
                for candidate in list(self.calls.values()):
                    if candidate.server_txn is event.transaction:
                        call = candidate
                if call is not None and not call._acked.is_set():
                    self._spawn(call.hangup("no ACK"), "hangup-no-ack")
        elif isinstance(event, AckReceived):
            call = self._dialogs.get(_dialog_key(event.request))
            if call is not None:
                call._acked.set()

    # -- requests we receive -------------------------------------------------------------
    def _request(self, request: Request, txn: ServerTransaction) -> None:
        method = request.method
        if request.to.tag:
            self._in_dialog(request, txn)
        elif method == "INVITE":
            self._incoming_invite(request, txn)
        elif method == "CANCEL":
            self._cancel_received(request, txn)
        elif method == "OPTIONS":
            self._respond(txn, make_response(
                request, 200, to_tag=new_tag(),
                headers=[("Allow", ALLOW), ("Accept", "application/sdp"),
                         ("Supported", "replaces")]))
        elif method == "REGISTER":
            if self.registrar is None:
                self._respond(txn, make_response(request, 405, to_tag=new_tag(),
                                                 headers=[("Allow", ALLOW)]))
                return
            response = self.registrar.handle(request, txn.source, self._now(),
                                             reliable=txn.reliable, to_tag=new_tag())
            if response is not None:
                self._respond(txn, response)
        elif method in ("BYE", "INFO", "REFER", "NOTIFY"):
            self._respond(txn, make_response(request, 481, to_tag=new_tag()))
        else:
            self._respond(txn, make_response(request, 501, to_tag=new_tag(),
                                             headers=[("Allow", ALLOW)]))

    def _incoming_invite(self, request: Request, txn: ServerTransaction) -> None:
        self._respond(txn, make_response(request, 100))
        if self.on_call is None:
            self._respond(txn, make_response(request, 480, to_tag=new_tag()))
            return
        if request.content_type != "application/sdp" or not request.body:
            self._respond(txn, make_response(request, 488, "SDP offer required",
                                             to_tag=new_tag()))
            return
        try:
            offer = parse_sdp(request.body)
            negotiate(offer)
        except SdpError as exc:
            self._respond(txn, make_response(request, 400, f"Bad SDP: {exc}"[:120],
                                             to_tag=new_tag()))
            return
        except NotAcceptable:
            self._respond(txn, make_response(request, 488, to_tag=new_tag(),
                                             headers=[("Warning",
                                                       '304 kefu "PCMU or PCMA only"')]))
            return
        try:
            port = self.ports.take()
        except RuntimeError:
            log.warning("no RTP port free: call from %s refused", request.from_.uri)
            self._respond(txn, make_response(request, 503, to_tag=new_tag()))
            return
        session = RtpSession(self.clock, self.host, port)
        call = Call(self, session, incoming=True, invite=request, remote=txn.source,
                    reliable=txn.reliable)
        call.server_txn = txn
        reply, plan = answer(offer, call.local_media)
        session.apply(plan)
        call.peer_hold = plan.on_hold
        call.offer_answer = bytes(reply)
        self.calls[call.id] = call
        self._pending[id(txn)] = call
        self._spawn(self._run_call(call), f"call-{call.id}")

    async def _run_call(self, call: Call) -> None:
        assert self.on_call is not None
        planned = call.session.port
        try:
            await self._open_session(call.session)
        except OSError as exc:
            log.error("no RTP port could be opened: %s", exc)
            await call.reject(503)
            return
        if call.session.port != planned:
            # The planned port was taken by another program: answer with the one we got.
            call.local_media.port = call.session.port
            reply, _plan = answer(parse_sdp(call.invite.body), call.local_media)
            call.offer_answer = bytes(reply)
        try:
            await self.on_call(call)
        except CallEnded:
            pass
        except Exception:
            log.exception("call %s handler failed", call.id)
        finally:
            if not call.ended.is_set():
                await call.hangup("handler finished")

    async def _open_session(self, session: RtpSession, attempts: int = 20) -> None:
        """Open the leg's RTP socket; a port another program holds is skipped (and goes to
        the back of the pool) for the next free one."""
        for _ in range(attempts - 1):
            try:
                await session.open()
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                taken, session.port = session.port, self.ports.take()
                self.ports.give(taken)
        await session.open()

    def _cancel_received(self, request: Request, txn: ServerTransaction) -> None:
        invite_txn = self.layer.find_server(request, "INVITE")
        call = self._pending.get(id(invite_txn)) if invite_txn is not None else None
        if call is None or invite_txn is None:
            self._respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        self._respond(txn, make_response(request, 200, to_tag=new_tag()))
        if call.state in ("new", "ringing"):
            self._respond(invite_txn, make_response(call.invite, 487, to_tag=call.local_tag))
            call._end("cancelled")

    def _in_dialog(self, request: Request, txn: ServerTransaction) -> None:
        call = self._dialogs.get(_dialog_key(request))
        if call is None or call.dialog is None:
            self._respond(txn, make_response(request, 481))
            return
        if not call.dialog.accept_remote(request):
            self._respond(txn, make_response(request, 500, "CSeq out of order"))
            return
        method = request.method
        if method == "BYE":
            self._respond(txn, make_response(request, 200))
            call._end("remote hangup")
        elif method == "INVITE":
            self._reinvite(call, request, txn)
        elif method == "INFO":
            digit = info_digit(request)
            self._respond(txn, make_response(request, 200))
            if digit:
                call.digits.put_nowait(DtmfDigit(digit, "info"))
        elif method == "REFER":
            target = request.headers.get("Refer-To")
            if not target or call.on_refer is None:
                self._respond(txn, make_response(request, 603 if target else 400))
                return
            self._respond(txn, make_response(request, 202))
            self._spawn(self._refer(call, target), f"refer-{call.id}")
        elif method in ("NOTIFY", "OPTIONS", "UPDATE"):
            self._respond(txn, make_response(request, 200))
        else:
            self._respond(txn, make_response(request, 501, headers=[("Allow", ALLOW)]))

    def _reinvite(self, call: Call, request: Request, txn: ServerTransaction) -> None:
        try:
            offer = parse_sdp(request.body) if request.body else None
            if offer is None:
                raise NotAcceptable("re-INVITE without SDP")
            reply, plan = answer(offer, call.local_media, hold=call.local_hold)
        except (SdpError, NotAcceptable) as exc:
            self._respond(txn, make_response(request, 488, str(exc)[:100]))
            return
        call.session.apply(plan)
        if call.local_hold:
            call.session.sending = False
        self._respond(txn, make_response(
            request, 200, body=bytes(reply),
            headers=[("Contact", str(self.contact(call.reliable))),
                     ("Content-Type", "application/sdp")]))
        if plan.on_hold != call.peer_hold:
            call.peer_hold = plan.on_hold
            if call.on_hold_change is not None:
                call.on_hold_change(call, plan.on_hold)

    async def _refer(self, call: Call, refer_to: str) -> None:
        assert call.on_refer is not None
        assert call.dialog is not None
        try:
            target = str(Address.parse(refer_to, "Refer-To header").uri)
        except SipParseError:
            target = refer_to
        ok = await call.on_refer(call, target)
        if call.dialog is not None and not call.ended.is_set():
            frag = b"SIP/2.0 200 OK\r\n" if ok else b"SIP/2.0 503 Service Unavailable\r\n"
            notify = call.dialog.request(
                "NOTIFY", body=frag, content_type="message/sipfrag;version=2.0",
                headers=[("Event", "refer"), ("Subscription-State",
                                               "terminated;reason=noresource")])
            with contextlib.suppress(CallFailed, TimeoutError):
                await asyncio.wait_for(self.request(notify, call.remote,
                                                    reliable=call.reliable), 10)
            if ok:
                await call.hangup("transferred")

    # -- requests we send ----------------------------------------------------------------
    async def request(self, request: Request, address: Addr, *, reliable: bool = False,
                      on_provisional: Callable[[Response], None] | None = None) -> Response:
        """Send a request in a new client transaction and wait for its final response (a
        408 when timer B/F fires)."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def waiter(response: Response) -> None:
            if response.status < 200:
                if on_provisional is not None:
                    on_provisional(response)
            elif not future.done():
                future.set_result(response)

        txn = self.layer.send_request(request, address, self._now(), reliable=reliable)
        self._waiters[txn] = waiter
        self._flush()
        try:
            return await future
        finally:
            self._waiters.pop(txn, None)

    async def dial(self, target: Uri, address: Addr, *, caller: str = "kefu",
                   display: str | None = None, reliable: bool = False,
                   credentials: tuple[str, str] | None = None,
                   headers: list[tuple[str, str]] | None = None,
                   on_ringing: Callable[[], None] | None = None) -> Call:
        """Place a call to ``target`` via ``address``; returns once it is answered.

        Raises:
            CallFailed: busy, declined, no answer (408), cancelled (487)…
        """
        session = RtpSession(self.clock, self.host, self.ports.take())
        try:
            await self._open_session(session)
        except OSError:
            self.ports.give(session.port)
            raise
        host = self.sent_by
        from_ = Address(Uri("sip", caller, self.public_host), display)
        invite = new_request("INVITE", target, from_=from_, to=Address(target),
                             call_id=new_call_id(self.public_host), cseq=1,
                             via_transport="TCP" if reliable else "UDP", via_sent_by=host,
                             contact=self.contact(reliable), headers=headers or [],
                             content_type="application/sdp")
        call = Call(self, session, incoming=False, invite=invite, remote=address,
                    reliable=reliable)
        invite.from_  # noqa: B018 - validated above
        invite.headers.set("From", str(Address(from_.uri, display, {"tag": call.local_tag})))
        invite.body = bytes(build_offer(call.local_media))
        self.calls[call.id] = call
        try:
            response = await self._invite(call, invite, on_ringing)
            if response.status in (401, 407) and credentials is not None:
                challenge = response.headers.get(
                    "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate")
                if challenge:
                    invite = _with_auth(invite, response.status, challenge, credentials)
                    call.invite = invite
                    response = await self._invite(call, invite, on_ringing)
        except BaseException:
            call._end("dial failed")
            raise
        if not 200 <= response.status < 300:
            call._end(f"failed {response.status}")
            raise CallFailed(response.status, response.reason)
        call.dialog = Dialog.from_uac(invite, response)
        call.dialog.via_sent_by = host
        self._dialogs[call.dialog.id] = call
        self._send_ack(call.dialog.ack(invite.cseq.number), address, reliable)
        call.state = "connected"
        call._acked.set()
        try:
            call.session.apply(negotiate(parse_sdp(response.body)))
        except (SdpError, NotAcceptable) as exc:
            await call.hangup(f"bad SDP answer: {exc}")
            raise CallFailed(488, str(exc)) from None
        return call

    async def _invite(self, call: Call, invite: Request,
                      on_ringing: Callable[[], None] | None) -> Response:
        def provisional(response: Response) -> None:
            if response.status in (180, 183) and on_ringing is not None:
                on_ringing()
            call.state = "ringing"

        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def waiter(response: Response) -> None:
            if response.status < 200:
                provisional(response)
            elif not future.done():
                future.set_result(response)
            elif 200 <= response.status < 300 and call.dialog is not None:
                # A retransmitted 2xx: our ACK was lost (RFC 3261 §13.2.2.4).
                self._send_ack(call.dialog.ack(invite.cseq.number), call.remote,
                               call.reliable)

        txn = self.layer.send_request(invite, call.remote, self._now(), reliable=call.reliable)
        call.client_txn = txn
        self._waiters[txn] = waiter
        self._flush()
        return await future

    async def _cancel(self, call: Call) -> None:
        txn = call.client_txn
        if txn is None:
            return
        invite = txn.request
        cancel = Request("CANCEL", invite.uri)
        via = invite.headers.get("Via")
        assert via is not None
        cancel.headers.add("Via", via)
        for name in ("From", "To", "Call-ID"):
            cancel.headers.add(name, invite.headers.get(name) or "")
        cancel.headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        cancel.headers.add("Max-Forwards", "70")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.request(cancel, call.remote, reliable=call.reliable),
                                   5)

    # -- bridging ------------------------------------------------------------------------
    def bridge(self, legs: dict[str, Call], *, recording: str | None = None,
               customer: str | None = None,
               hears: dict[str, list[str]] | None = None) -> Bridge:
        """Connect the legs' audio (and record: ``customer`` left, the others right)."""
        recorder = StereoRecorder(recording) if recording else None
        bridge = Bridge({name: call.session for name, call in legs.items()},
                        recorder=recorder, customer=customer, hears=hears)
        self.clock.add_bridge(bridge)
        return bridge

    def unbridge(self, bridge: Bridge) -> None:
        self.clock.remove_bridge(bridge)

    def _forget(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        if call.dialog is not None:
            self._dialogs.pop(call.dialog.id, None)
        if call.server_txn is not None:
            self._pending.pop(id(call.server_txn), None)
        if call.client_txn is not None:
            self._waiters.pop(call.client_txn, None)
        self.ports.give(call.session.port)
        bridge = call.session.bridge
        if bridge is not None and len(bridge.legs) <= 1:
            self.clock.remove_bridge(bridge)


def _dialog_key(request: Request) -> tuple[str, str, str]:
    return (request.call_id, request.to.tag or "", request.from_.tag or "")


def _with_auth(invite: Request, status: int, challenge: str,
               credentials: tuple[str, str]) -> Request:
    """The INVITE again with credentials, a new branch and the next CSeq (RFC 3261 §22.2)."""
    headers = invite.headers.copy()
    headers.remove("Authorization")
    headers.remove("Proxy-Authorization")
    via = invite.top_via
    via.params["branch"] = "z9hG4bK" + secrets.token_hex(8)
    headers.replace_first("Via", str(via))
    headers.set("CSeq", f"{invite.cseq.number + 1} INVITE")
    value = answer_challenge(challenge, method="INVITE", uri=str(invite.uri),
                             username=credentials[0], password=credentials[1])
    headers.add("Authorization" if status == 401 else "Proxy-Authorization", value)
    return Request("INVITE", invite.uri, headers, invite.body)


_INFO_SIGNAL = re.compile(r"(?im)^\s*signal\s*=\s*([0-9*#A-Da-d])\s*$")


def info_digit(request: Request) -> str | None:
    """The key in a SIP INFO DTMF body (``application/dtmf-relay`` or ``application/dtmf``)."""
    kind = request.content_type
    text = request.body.decode("utf-8", errors="replace")
    if kind == "application/dtmf-relay":
        match = _INFO_SIGNAL.search(text)
        return match.group(1).upper() if match else None
    if kind == "application/dtmf":
        key = text.strip()
        return key.upper() if len(key) == 1 and key in "0123456789*#ABCDabcd" else None
    return None


_RAW_HEADER = re.compile(
    rb"(?im)^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[ \t]*([^\r\n]*)\r?$")


def bad_request(data: bytes, error: SipParseError) -> bytes | None:
    """A 400 for a malformed request whose routing headers can still be read, else None."""
    if data.startswith(b"SIP/") or len(data) > 65535:
        return None
    found: dict[str, list[bytes]] = {}
    for match in _RAW_HEADER.finditer(data):
        name = match.group(1).decode().lower()
        name = {"v": "via", "f": "from", "t": "to", "i": "call-id"}.get(name, name)
        found.setdefault(name, []).append(match.group(2).strip())
    if not all(found.get(n) for n in ("via", "from", "to", "call-id", "cseq")):
        return None
    reason = re.sub(r"[^ -~]", "?", str(error)).replace('"', "'")[:200]
    lines = [b"SIP/2.0 400 Bad Request"]
    lines += [b"Via: " + v for v in found["via"]]
    lines += [b"From: " + found["from"][0], b"To: " + found["to"][0],
              b"Call-ID: " + found["call-id"][0], b"CSeq: " + found["cseq"][0],
              f'Warning: 399 kefu "{reason}"'.encode(), b"Content-Length: 0"]
    return b"\r\n".join(lines) + b"\r\n\r\n"
