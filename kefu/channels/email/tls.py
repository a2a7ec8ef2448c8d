"""Connection security settings shared by the relay client and the IMAP poller."""

from __future__ import annotations

import enum
import ipaddress


class Security(enum.StrEnum):
    """How a connection to a mail server is protected."""

    STARTTLS = "starttls"  # plain connect, then STARTTLS (RFC 3207 for SMTP, RFC 9051 §6.2.1)
    SSL = "ssl"            # TLS from the first byte (RFC 8314): ports 465 and 993
    NONE = "none"          # only for a server on the same machine or a trusted network


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (the one place credentials may travel unencrypted).

    Args:
        host: a host name or IP address.

    Returns:
        True for ``localhost`` and loopback addresses.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
