"""Passwords (argon2) and API tokens (random, stored as a SHA-256 hash)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "inbx_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_password() -> str:
    """A password an admin gives a user after a reset: 18 characters (about 100 random bits),
    with no look-alike characters to misread when passing it on."""
    alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479"
    return "".join(secrets.choice(alphabet) for _ in range(18))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
