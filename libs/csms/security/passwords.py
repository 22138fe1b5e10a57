"""Station passwords for HTTP Basic auth (security profile 1), stored hashed.

Station passwords are machine-generated secrets of 16-40 characters (OCPP 2.0.1
BasicAuthPassword; 1.6 AuthorizationKey), not human passwords, so a salted SHA-256 is as strong as
a slow hash against guessing while keeping a reconnect storm of 50,000 stations cheap
(≈1 µs per check instead of ~50 ms with scrypt). Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 40
_SCHEME = "sha256"


class WeakPassword(ValueError):
    """A password outside the 16-40 characters OCPP requires."""


def hash_password(password: str) -> str:
    """`sha256$<salt hex>$<digest hex>` of a password of 16-40 characters."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"station passwords must have {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters"
        )
    salt = secrets.token_bytes(16)
    digest = hashlib.sha256(salt + password.encode()).hexdigest()
    return f"{_SCHEME}${salt.hex()}${digest}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash; False for any malformed stored value."""
    try:
        scheme, salt_hex, digest = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hashlib.sha256(salt + password.encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


def generate_password(length: int = 24) -> str:
    """A random password an operator can hand to a station (URL-safe, `length` characters)."""
    return secrets.token_urlsafe(length)[:length]
