"""SIP dialogs (RFC 3261 §12): tags, route set, remote target and CSeq, sans-IO.

A :class:`Dialog` is made from the INVITE and the response that established it, on either
side (:meth:`Dialog.from_uas`, :meth:`Dialog.from_uac`). It builds in-dialog requests (BYE,
re-INVITE, INFO, REFER, ACK) with the right Request-URI, Route set and CSeq, and checks the
CSeq of requests the peer sends in it. :func:`new_request` builds out-of-dialog requests.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from kefu.channels.voice.sip.message import (
    Address,
    Headers,
    Request,
    Response,
    Uri,
)
from kefu.channels.voice.sip.transaction import new_branch

USER_AGENT = "kefu"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY, REGISTER"


def new_tag() -> str:
    return secrets.token_hex(5)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


def new_request(method: str, uri: Uri, *, from_: Address, to: Address, call_id: str,
                cseq: int, via_transport: str, via_sent_by: str,
                contact: Address | None = None, routes: Iterable[Address] = (),
                body: bytes = b"", content_type: str | None = None,
                headers: Iterable[tuple[str, str]] = ()) -> Request:
    """A request with the mandatory headers of RFC 3261 §8.1.1 (a fresh Via branch)."""
    out = Headers()
    out.add("Via", f"SIP/2.0/{via_transport} {via_sent_by};branch={new_branch()};rport")
    out.add("Max-Forwards", "70")
    for route in routes:
        out.add("Route", str(route))
    out.add("From", str(from_))
    out.add("To", str(to))
    out.add("Call-ID", call_id)
    out.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        out.add("Contact", str(contact))
    out.add("User-Agent", USER_AGENT)
    for name, value in headers:
        out.add(name, value)
    if content_type:
        out.add("Content-Type", content_type)
    return Request(method, uri, out, body)


@dataclass
class Dialog:
    """One dialog's state (RFC 3261 §12.1).

    Attributes:
        call_id: the Call-ID.
        local_tag: our tag; remote_tag: the peer's.
        local: our From/To address (without tag); remote: the peer's.
        remote_target: the peer's Contact URI, where in-dialog requests go.
        route_set: the Record-Route set, in the order requests must carry it.
        local_seq: the CSeq of our last request; remote_seq: the peer's (None before any).
        contact: our Contact.
        invite_seq: the CSeq of the INVITE (or re-INVITE) whose 2xx was last ACKed.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local: Address
    remote: Address
    remote_target: Uri
    route_set: list[Address]
    local_seq: int
    remote_seq: int | None
    contact: Address
    invite_seq: int = 0
    via_transport: str = "UDP"
    via_sent_by: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uas(cls, request: Request, to_tag: str, contact: Address, *,
                 via_transport: str, via_sent_by: str) -> Dialog:
        """The dialog a UAS creates when it answers ``request`` (an INVITE) with ``to_tag``."""
        remote = request.from_
        local = request.to
        contacts = request.contacts
        target = contacts[0].uri if contacts else remote.uri
        return cls(call_id=request.call_id, local_tag=to_tag, remote_tag=remote.tag or "",
                   local=_untagged(local), remote=_untagged(remote), remote_target=target,
                   route_set=request.record_routes, local_seq=0,
                   remote_seq=request.cseq.number, contact=contact,
                   invite_seq=request.cseq.number, via_transport=via_transport,
                   via_sent_by=via_sent_by)

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC creates from its INVITE and a 2xx (or tagged 1xx) response."""
        contacts = response.contacts
        to = response.to
        via = request.top_via
        return cls(call_id=request.call_id, local_tag=request.from_.tag or "",
                   remote_tag=to.tag or "", local=_untagged(request.from_),
                   remote=_untagged(to),
                   remote_target=contacts[0].uri if contacts else request.uri,
                   route_set=list(reversed(response.record_routes)),
                   local_seq=request.cseq.number, remote_seq=None,
                   contact=request.contacts[0] if request.contacts else request.from_,
                   invite_seq=request.cseq.number, via_transport=via.transport,
                   via_sent_by=via.sent_by)

    def _addresses(self) -> tuple[Address, Address]:
        local = Address(self.local.uri, self.local.display, {"tag": self.local_tag})
        remote = Address(self.remote.uri, self.remote.display,
                         {"tag": self.remote_tag} if self.remote_tag else {})
        return local, remote

    def _target_and_routes(self) -> tuple[Uri, list[Address]]:
        routes = list(self.route_set)
        if routes and "lr" not in routes[0].uri.params:
            # Strict router (RFC 3261 §12.2.1.1): it goes in the Request-URI.
            first = routes.pop(0)
            routes.append(Address(self.remote_target))
            return first.uri, routes
        return self.remote_target, routes

    def request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                headers: Iterable[tuple[str, str]] = ()) -> Request:
        """A new in-dialog request with the next CSeq."""
        self.local_seq += 1
        if method == "INVITE":
            self.invite_seq = self.local_seq
        return self._build(method, self.local_seq, body, content_type, headers)

    def ack(self, cseq: int | None = None, *, body: bytes = b"",
            content_type: str | None = None) -> Request:
        """The ACK for a 2xx to the INVITE with CSeq ``cseq`` (a new branch; §13.2.2.4)."""
        return self._build("ACK", cseq if cseq is not None else self.invite_seq, body,
                           content_type, ())

    def _build(self, method: str, cseq: int, body: bytes, content_type: str | None,
               headers: Iterable[tuple[str, str]]) -> Request:
        local, remote = self._addresses()
        target, routes = self._target_and_routes()
        return new_request(method, target, from_=local, to=remote, call_id=self.call_id,
                           cseq=cseq, via_transport=self.via_transport,
                           via_sent_by=self.via_sent_by,
                           contact=self.contact if method in ("INVITE", "REFER") else None,
                           routes=routes, body=body, content_type=content_type,
                           headers=headers)

    def accept_remote(self, request: Request) -> bool:
        """Check and record the CSeq of a request the peer sent in this dialog.

        Returns:
            False when it is lower than or equal to the last one (answer 500, §12.2.2);
            ACK and CANCEL are always accepted (they reuse the INVITE's number).
        """
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        contacts = request.contacts
        if request.method == "INVITE" and contacts:
            self.remote_target = contacts[0].uri  # target refresh (§12.2.2)
        return True

    def matches(self, message: Request | Response) -> bool:
        """Whether ``message`` (as received from the peer) belongs to this dialog."""
        if message.call_id != self.call_id:
            return False
        if isinstance(message, Request):
            return message.to.tag == self.local_tag and message.from_.tag == self.remote_tag
        return message.from_.tag == self.local_tag and message.to.tag == self.remote_tag


def _untagged(address: Address) -> Address:
    params = {k: v for k, v in address.params.items() if k != "tag"}
    return Address(address.uri, address.display, params)


def dialog_key_for_request(request: Request) -> tuple[str, str, str]:
    """The (Call-ID, our tag, their tag) a received in-dialog request names."""
    return (request.call_id, request.to.tag or "", request.from_.tag or "")
