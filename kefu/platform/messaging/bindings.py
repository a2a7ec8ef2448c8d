"""The address directory: which tenant an inbound message belongs to.

:func:`sync_bindings` runs when a tenant deploys a config and makes ``channel_bindings`` hold
exactly that config's channels for the tenant. An address already held by another tenant is
left with it (first come, first served) and reported, so one mailbox or number can never
deliver into two tenants; the deploy itself still succeeds.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.messaging.models import ChannelBinding

log = logging.getLogger(__name__)

_PHONE_JUNK = re.compile(r"[\s().-]")


def normalize_address(kind: str, address: str) -> str:
    """The form addresses are stored and looked up in: mailboxes lower-case, phone numbers
    without spaces, dots, dashes and brackets (``+44 1632 960001`` = ``+441632960001``);
    widget keys and anything else as written (trimmed)."""
    address = address.strip()
    if kind == "email":
        return address.lower()
    if kind in ("sms", "voice", "fax"):
        return _PHONE_JUNK.sub("", address)
    return address


@dataclass(frozen=True)
class Conflict:
    kind: str
    address: str
    held_by: uuid.UUID


def sync_bindings(db: Session, tenant_id: uuid.UUID,
                  channels: Iterable[tuple[str, str, str | None]]) -> list[Conflict]:
    """Make the tenant's bindings exactly ``channels`` (kind, address, flow).

    Returns the addresses another tenant holds; they stay with that tenant.
    """
    wanted = {(kind, normalize_address(kind, address)): flow for kind, address, flow in channels}
    mine = {(b.kind, b.address): b for b in db.scalars(
        sa.select(ChannelBinding).where(ChannelBinding.tenant_id == tenant_id))}
    for key, binding in mine.items():
        if key not in wanted:
            db.delete(binding)
    conflicts: list[Conflict] = []
    for (kind, address), flow in wanted.items():
        held = mine.get((kind, address))
        if held is not None:
            held.flow = flow
            continue
        holder = db.scalar(sa.select(ChannelBinding.tenant_id).where(
            ChannelBinding.kind == kind, ChannelBinding.address == address))
        if holder is not None:
            conflicts.append(Conflict(kind, address, holder))
            log.warning("channel %s %s is bound to another tenant; tenant %s does not "
                        "receive its traffic", kind, address, tenant_id)
            continue
        db.add(ChannelBinding(tenant_id=tenant_id, kind=kind, address=address, flow=flow))
    db.flush()
    return conflicts


def resolve_address(db: Session, kind: str, address: str) -> uuid.UUID | None:
    """The tenant that declared ``channel <kind> "<address>"``, or None."""
    return db.scalar(sa.select(ChannelBinding.tenant_id).where(
        ChannelBinding.kind == kind,
        ChannelBinding.address == normalize_address(kind, address)))


def addresses(db: Session, kind: str) -> dict[str, uuid.UUID]:
    """Every bound address of one kind (e.g. the mailboxes the SMTP listener accepts)."""
    rows = db.execute(sa.select(ChannelBinding.address, ChannelBinding.tenant_id)
                      .where(ChannelBinding.kind == kind))
    return {str(address): tenant for address, tenant in rows}
