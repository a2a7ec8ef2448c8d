"""Kannel's HTTP callbacks: inbound SMS (the sms-service ``get-url``) and delivery reports
(the ``dlr-url`` :class:`~kefu.platform.messaging.sms_host.KannelSender` builds).

Both are authenticated by ``sms.kannel_secret`` (the ``secret=`` parameter, compared in
constant time); with no secret configured they are refused. Answers are plain text, because
Kannel logs them: 200 stored, 400 a call kefu cannot read (the reason names the parameter),
403 no or wrong secret, 404 a number no tenant declares or a report for no message (a report
for a message still being sent is recorded at once, by kefu's id in the reference).

The query string is read raw: UCS-2 messages arrive as UTF-16BE bytes that only
:func:`~kefu.channels.sms.kannel.parse_mo` knows how to decode (with Kannel's ``charset``).
"""

from __future__ import annotations

import hmac
import logging
import urllib.parse
import uuid

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.orm import Session

from kefu.channels.sms.kannel import KannelCallbackError, parse_dlr, parse_mo
from kefu.channels.sms.messages import DeliveryReceipt
from kefu.platform.interactions.models import Channel, Direction, Message, MessageStatus
from kefu.platform.messaging.intake import UnknownAddress
from kefu.platform.messaging.outbound import Outbox, set_status
from kefu.platform.messaging.sms_host import (
    KANNEL_DLR_PATH,
    KANNEL_MO_PATH,
    RECEIPT_STATUS,
    SmsReceiver,
)

log = logging.getLogger(__name__)

_FORM = "application/x-www-form-urlencoded"


def _answer(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain", charset="utf-8")


def _raw_query(request: Request) -> str:
    """The parameters as Kannel sent them, still percent-encoded: the query string, or a
    form-encoded POST body."""
    if request.method == "POST" and (request.content_type or "") == _FORM:
        return request.body.decode("latin-1")
    return str(request.environ.get("QUERY_STRING", ""))


def _refused(request: Request, kind: str, query: str) -> Response | None:
    """403 unless the call carries the configured secret."""
    secret = str(request.platform.settings["sms.kannel_secret"])
    if not secret:
        log.warning("Kannel %s callback refused: sms.kannel_secret is not set", kind)
        return _answer(403, "Kannel callbacks are off: set sms.kannel_secret")
    try:
        given = dict(urllib.parse.parse_qsl(query, encoding="latin-1", max_num_fields=40)
                     ).get("secret", "")
    except ValueError:
        given = ""
    if not hmac.compare_digest(given.encode("latin-1", "replace"), secret.encode("utf-8")):
        log.warning("Kannel %s callback from %s refused: missing or wrong secret", kind,
                    request.client_addr)
        return _answer(403, "missing or wrong 'secret' parameter")
    return None


@view_config(route_name="kannel_mo", request_method=("GET", "POST"), require_csrf=False)
def kannel_mo(request: Request) -> Response:
    """An inbound SMS from Kannel: stored for the tenant that declared the number."""
    query = _raw_query(request)
    refused = _refused(request, "MO", query)
    if refused is not None:
        return refused
    try:
        sms = parse_mo(query, secret=str(request.platform.settings["sms.kannel_secret"]))
    except KannelCallbackError as exc:
        log.warning("Kannel MO refused: %s", exc)
        return _answer(400, str(exc))
    try:
        received = SmsReceiver(request.platform).receive(sms)
    except UnknownAddress as exc:
        log.warning("Kannel MO from %s refused: %s", sms.sender, exc)
        return _answer(404, str(exc))
    return _answer(200, f"stored {received.message_id}" if received else "stored before")


@view_config(route_name="kannel_dlr", request_method=("GET", "POST"), require_csrf=False)
def kannel_dlr(request: Request) -> Response:
    """A delivery report from Kannel for a message kefu sent (``tenant`` and ``ref`` are in
    the dlr-url kefu built)."""
    query = _raw_query(request)
    refused = _refused(request, "DLR", query)
    if refused is not None:
        return refused
    try:
        receipt = parse_dlr(query, secret=str(request.platform.settings["sms.kannel_secret"]))
        raw_tenant = dict(urllib.parse.parse_qsl(query)).get("tenant", "")
        try:
            tenant_id = uuid.UUID(raw_tenant)
        except ValueError:
            raise KannelCallbackError(
                f"Kannel DLR parameter 'tenant' must be a tenant id, got {raw_tenant[:40]!r}"
            ) from None
    except KannelCallbackError as exc:
        log.warning("Kannel DLR refused: %s", exc)
        return _answer(400, str(exc))
    status = RECEIPT_STATUS.get(receipt.status)
    if status is None:
        return _answer(200, f"nothing to record for {receipt.state}")
    return _record(request, tenant_id, receipt, status)


def _record(request: Request, tenant_id: uuid.UUID, receipt: DeliveryReceipt,
            status: MessageStatus) -> Response:
    error = None
    if status == MessageStatus.FAILED:
        error = receipt.state + (f" ({receipt.error})" if receipt.error else "")
    platform = request.platform
    with platform.session(tenant_id) as db:
        # The reference is kefu's own message id, so the report finds its message whether or
        # not the dispatcher has recorded the send yet (Kannel may report before sendsms
        # answers); the dispatcher re-reads the message after sending and never moves it back.
        message = _sent_by_us(db, receipt.message_id)
        if message is not None:
            set_status(db, platform.bus, message, status, error=error, at=receipt.done_at)
        else:
            message = Outbox(platform, db).mark(Channel.SMS, receipt.message_id, status,
                                                error=error, at=receipt.done_at)
        if message is not None:
            db.commit()
            return _answer(200, f"message {message.id} is {message.status.value}")
    log.warning("Kannel DLR names no SMS of tenant %s: %s", tenant_id, receipt.message_id)
    return _answer(404, f"no SMS {receipt.message_id} was sent")


def _sent_by_us(db: Session, reference: str) -> Message | None:
    """The outbound SMS of this tenant whose kefu id is ``reference``, or None."""
    try:
        message_id = uuid.UUID(hex=reference)
    except ValueError:
        return None
    return db.scalar(sa.select(Message).where(
        Message.id == message_id, Message.channel == Channel.SMS,
        Message.direction == Direction.OUTBOUND))


def includeme(config: Configurator) -> None:
    config.add_route("kannel_mo", KANNEL_MO_PATH)
    config.add_route("kannel_dlr", KANNEL_DLR_PATH)
    config.scan(__name__)
