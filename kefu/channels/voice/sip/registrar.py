"""The registrar for agents' phones (RFC 3261 §10.3) with digest auth and bans, sans-IO.

:meth:`Registrar.handle` takes a REGISTER, its source address and ``now`` and returns the
response to send, or None when the source is banned (a scanner gets no answer at all).
Credentials come from a ``lookup(username, algorithm) -> HA1 | None`` the host supplies; an unknown
user and a wrong password are answered alike (401 with a fresh challenge), so the answers do not
reveal which user names exist. Bindings live in this process's memory keyed by user name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kefu.channels.voice.sip.auth import AuthLimiter, DigestServer, Rejected, Verified
from kefu.channels.voice.sip.message import Request, Response, SipParseError, Uri, make_response

log = logging.getLogger(__name__)

Addr = tuple[str, int]


@dataclass
class Binding:
    """Where a registered phone is reached.

    Attributes:
        user: the SIP user name (the agent's).
        contact: the phone's Contact URI.
        source: the address its REGISTER came from (used when the contact is behind NAT).
        reliable: it registered over TCP.
        expires_at: ``now`` value when the binding lapses.
    """

    user: str
    contact: Uri
    source: Addr
    reliable: bool
    expires_at: float


class Registrar:
    """Registrations of one realm.

    Args:
        digest: the digest challenger/verifier.
        lookup: (user name, algorithm) → the stored HA1, or None for unknown users.
        limiter: failed-auth counting and bans per source IP.
        min_expires / max_expires: the accepted registration interval.
    """

    def __init__(self, digest: DigestServer, lookup: Callable[[str, str], str | None], *,
                 limiter: AuthLimiter | None = None, min_expires: int = 60,
                 max_expires: int = 3600) -> None:
        self.digest = digest
        self.lookup = lookup
        self.limiter = limiter or AuthLimiter()
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.bindings: dict[str, Binding] = {}
        self.on_change: Callable[[str, Binding | None], None] | None = None

    def find(self, user: str, now: float) -> Binding | None:
        binding = self.bindings.get(user)
        if binding is not None and binding.expires_at <= now:
            del self.bindings[user]
            self._changed(user, None)
            return None
        return binding

    def _changed(self, user: str, binding: Binding | None) -> None:
        if self.on_change is not None:
            self.on_change(user, binding)

    def authenticate(self, request: Request, source: Addr, now: float,
                     to_tag: str) -> Verified | Response | None:
        """Check a request's digest credentials: the verified user, a 401 to send, or None
        (banned source: drop)."""
        ip = source[0]
        if self.limiter.banned(ip, now):
            return None
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return self._challenge(request, to_tag)
        result = self.digest.verify(authorization, request.method, self.lookup)
        if isinstance(result, Verified):
            self.limiter.succeeded(ip)
            return result
        assert isinstance(result, Rejected)
        if result.stale:
            return self._challenge(request, to_tag, stale=True)
        log.warning("SIP auth failed from %s: %s", ip, result.reason)
        if self.limiter.failed(ip, now):
            log.warning("SIP source %s banned for %.0f s after repeated auth failures", ip,
                        self.limiter.ban_seconds)
            return None
        return self._challenge(request, to_tag)

    def _challenge(self, request: Request, to_tag: str, *, stale: bool = False) -> Response:
        return make_response(request, 401, to_tag=to_tag,
                             headers=[("WWW-Authenticate", c)
                                      for c in self.digest.challenges(stale=stale)])

    def handle(self, request: Request, source: Addr, now: float, *,  # noqa: PLR0911
               reliable: bool = False,
               to_tag: str = "reg") -> Response | None:
        """Answer a REGISTER (None: drop it, the source is banned)."""
        auth = self.authenticate(request, source, now, to_tag)
        if not isinstance(auth, Verified):
            return auth
        to_user = request.to.uri.user
        if to_user != auth.username:
            return make_response(request, 403, "Forbidden (To is not the authenticated user)",
                                 to_tag=to_tag)
        try:
            contacts = request.contacts
        except SipParseError as exc:
            return make_response(request, 400, f"Bad Contact: {exc.what}", to_tag=to_tag)
        default_expires = request.headers.get("Expires")
        if contacts and contacts[0].star:
            self.bindings.pop(auth.username, None)
            self._changed(auth.username, None)
            return make_response(request, 200, to_tag=to_tag)
        for contact in contacts[:1]:
            text = contact.params.get("expires") or default_expires or str(self.max_expires)
            if not text.isdigit():
                return make_response(request, 400, f"Bad expires {text!r}", to_tag=to_tag)
            expires = min(int(text), self.max_expires)
            if expires == 0:
                self.bindings.pop(auth.username, None)
                self._changed(auth.username, None)
                continue
            if expires < self.min_expires:
                return make_response(request, 423, to_tag=to_tag,
                                     headers=[("Min-Expires", str(self.min_expires))])
            binding = Binding(auth.username, contact.uri, source, reliable, now + expires)
            self.bindings[auth.username] = binding
            self._changed(auth.username, binding)
        current = self.find(auth.username, now)
        headers = []
        if current is not None:
            remaining = max(0, int(current.expires_at - now))
            headers.append(("Contact", f"<{current.contact}>;expires={remaining}"))
        return make_response(request, 200, to_tag=to_tag, headers=headers)

    def prune(self, now: float) -> None:
        for user in [u for u, b in self.bindings.items() if b.expires_at <= now]:
            del self.bindings[user]
            self._changed(user, None)
        self.limiter.prune(now)
