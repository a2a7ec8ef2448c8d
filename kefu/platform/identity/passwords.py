"""Password hashing with Argon2id (RFC 9106) through argon2-cffi's recommended parameters."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_LENGTH = 8

@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so a login attempt for an
    unknown email takes as long as one for a known email (no user enumeration by timing).
    Made on first use: hashing costs a noticeable fraction of a second."""
    return _hasher.hash("kefu-timing-equaliser")


class WeakPasswordError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"password must be at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
        return matched and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
