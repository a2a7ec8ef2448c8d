"""Digest authentication (RFC 2617 / RFC 7616 / RFC 8760 for SIP) and failed-auth bans.

- :class:`DigestServer` issues challenges (``WWW-Authenticate``) with stateless nonces — an
  HMAC of the issue time, so any runtime process sharing the secret can check them — and
  verifies ``Authorization`` headers, MD5 and SHA-256, ``qop=auth``.
- :func:`answer_challenge` computes the ``Authorization`` a client sends back (for a trunk).
- :class:`AuthLimiter` counts failures per source address and bans a source for a while when
  it fails too often; it runs on the clock the caller passes in.

Unknown users and wrong passwords get the same answer, so the registrar does not tell a
scanner which user names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kefu.channels.voice.sip.message import SipParseError

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
NONCE_LIFETIME = 300.0


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def parse_auth_header(value: str, where: str = "Authorization header") -> tuple[str, dict[str,
                                                                                       str]]:
    """``Digest a="x", b=y`` → ``("Digest", {"a": "x", "b": "y"})``.

    Raises:
        SipParseError: the header is malformed.
    """
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    i = 0
    rest = rest.strip()
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,":
            i += 1
        if i >= len(rest):
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise SipParseError(f"parameter without '=' at {rest[i:i + 20]!r}", where)
        name = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            end = i + 1
            chars: list[str] = []
            while end < len(rest) and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < len(rest):
                    end += 1
                chars.append(rest[end])
                end += 1
            if end >= len(rest):
                raise SipParseError(f"unterminated quoted value for {name}", where)
            params[name] = "".join(chars)
            i = end + 1
        else:
            end = rest.find(",", i)
            end = len(rest) if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    if not scheme:
        raise SipParseError("empty authorization header", where)
    return scheme, params


def digest_response(*, algorithm: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, qop: str | None, nc: str, cnonce: str) -> str:
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    return digest_response_ha1(algorithm=algorithm, ha1=ha1, method=method, uri=uri,
                               nonce=nonce, qop=qop, nc=nc, cnonce=cnonce)


def digest_response_ha1(*, algorithm: str, ha1: str, method: str, uri: str, nonce: str,
                        qop: str | None, nc: str, cnonce: str) -> str:
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def answer_challenge(challenge: str, *, method: str, uri: str, username: str,
                     password: str) -> str:
    """The ``Authorization`` value answering a ``WWW-Authenticate`` digest challenge."""
    scheme, params = parse_auth_header(challenge, "WWW-Authenticate header")
    if scheme.lower() != "digest":
        raise SipParseError(f"unsupported scheme {scheme}", "WWW-Authenticate header")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        raise SipParseError(f"unsupported algorithm {algorithm}", "WWW-Authenticate header")
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in qops else None
    cnonce = secrets.token_hex(8)
    nc = "00000001"
    response = digest_response(algorithm=algorithm, username=username, realm=realm,
                               password=password, method=method, uri=uri, nonce=nonce,
                               qop=qop, nc=nc, cnonce=cnonce)
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f'response="{response}"', f"algorithm={algorithm}"]
    if qop:
        parts += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """The digest hash kefu stores instead of a SIP password (RFC 7616 §3.4.2 ``A1``)."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def password_lookup(realm: str, passwords: dict[str, str]
                    ) -> Callable[[str, str], str | None]:
    """A ``lookup`` for :meth:`DigestServer.verify` from plain passwords (tests, tools)."""
    def lookup(username: str, algorithm: str) -> str | None:
        password = passwords.get(username)
        return None if password is None else ha1(username, realm, password, algorithm)
    return lookup


@dataclass(frozen=True)
class Verified:
    username: str


@dataclass(frozen=True)
class Rejected:
    """Why credentials were refused (for the log; the peer gets a plain 401/403)."""

    reason: str
    stale: bool = False


class DigestServer:
    """Issues and checks digest challenges for one realm.

    Args:
        realm: the realm (the tenant's SIP domain, or the host).
        secret: the key the nonces are signed with (shared by every runtime process).
        clock: wall-clock seconds (nonces must survive across processes).
    """

    def __init__(self, realm: str, secret: bytes, clock: Callable[[], float] = time.time, *,
                 algorithms: tuple[str, ...] = ("MD5",)) -> None:
        self.realm = realm
        self.secret = secret
        self._clock = clock
        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown or not algorithms:
            raise ValueError(f"digest algorithms must be among {sorted(ALGORITHMS)}")
        self.algorithms = algorithms

    def _now(self) -> float:
        return self._clock()

    def _nonce(self, issued: int) -> str:
        mac = hmac.new(self.secret, f"{issued}:{self.realm}".encode(), hashlib.sha256)
        return f"{issued:x}.{mac.hexdigest()[:32]}"

    def challenges(self, *, stale: bool = False) -> list[str]:
        """``WWW-Authenticate`` values, one per algorithm. Only MD5 by default: some phones
        (baresip 1.0's libre among them) fail the whole registration when any challenge
        names an algorithm they lack; offer SHA-256 (RFC 8760) only where every phone has
        it (``algorithms=("SHA-256", "MD5")``). Responses in either are always verified."""
        nonce = self._nonce(int(self._now()))
        extra = ", stale=true" if stale else ""
        return [f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={alg}, '
                f'qop="auth"{extra}' for alg in self.algorithms]


    def verify(self, authorization: str, method: str,  # noqa: PLR0911 - one per reason
               lookup: Callable[[str, str], str | None]) -> Verified | Rejected:
        """Check an ``Authorization`` header.

        Args:
            authorization: the header value.
            method: the request method.
            lookup: ``(username, algorithm) -> HA1 | None``: the stored digest hash of
                ``username:realm:password`` (see :func:`ha1`), None for unknown users.
        """
        try:
            scheme, p = parse_auth_header(authorization)
        except SipParseError as exc:
            return Rejected(str(exc))
        if scheme.lower() != "digest":
            return Rejected(f"scheme {scheme} is not Digest")
        for name in ("username", "realm", "nonce", "uri", "response"):
            if name not in p:
                return Rejected(f"missing {name}")
        if p["realm"] != self.realm:
            return Rejected(f"realm {p['realm']!r} is not {self.realm!r}")
        algorithm = p.get("algorithm", "MD5").upper()
        if algorithm not in ALGORITHMS:
            return Rejected(f"algorithm {algorithm} not supported")
        issued_hex, _, _ = p["nonce"].partition(".")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return Rejected("malformed nonce")
        if not hmac.compare_digest(self._nonce(issued), p["nonce"]):
            return Rejected("nonce not issued here")
        stored = lookup(p["username"], algorithm)
        qop = p.get("qop")
        if qop not in (None, "auth"):
            return Rejected(f"qop {qop} not supported")
        # Unknown users cost the same work as known ones (no timing difference).
        expected = digest_response_ha1(
            algorithm=algorithm, ha1=stored if stored is not None else secrets.token_hex(16),
            method=method, uri=p["uri"], nonce=p["nonce"], qop=qop, nc=p.get("nc", ""),
            cnonce=p.get("cnonce", ""))
        if stored is None or not hmac.compare_digest(expected, p["response"].lower()):
            return Rejected(f"wrong credentials for {p['username']!r}")
        if self._now() - issued > NONCE_LIFETIME:
            return Rejected("nonce expired", stale=True)
        return Verified(p["username"])


@dataclass
class AuthLimiter:
    """Bans a source after ``max_failures`` failed authentications within ``window`` seconds,
    for ``ban_seconds``; driven by the ``now`` the caller passes in.
    """

    max_failures: int = 5
    window: float = 60.0
    ban_seconds: float = 600.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _banned_until: dict[str, float] = field(default_factory=dict)

    def banned(self, source: str, now: float) -> bool:
        until = self._banned_until.get(source)
        if until is None:
            return False
        if now >= until:
            del self._banned_until[source]
            return False
        return True

    def failed(self, source: str, now: float) -> bool:
        """Record a failure; True when it got the source banned."""
        recent = self._failures.setdefault(source, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.max_failures:
            self._banned_until[source] = now + self.ban_seconds
            del self._failures[source]
            return True
        return False

    def succeeded(self, source: str) -> None:
        self._failures.pop(source, None)

    def prune(self, now: float) -> None:
        """Forget expired bans and old failures (bounded memory under a scan)."""
        for source in [s for s, until in self._banned_until.items() if until <= now]:
            del self._banned_until[source]
        for source in [s for s, d in self._failures.items() if not d or d[-1] <= now -
                       self.window]:
            del self._failures[source]
