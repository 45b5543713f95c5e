"""Access tokens for ucvd-web's dashboard: made here, kept only as their SHA-256.

A token is 32 random bytes (256 bits), so a plain, fast hash is the right one to keep:
nothing can be guessed from it, and a slow password hash would only make every dashboard
request slower. The secret is shown once, to the operator who made it, and never again.
Two kinds: `operator` may act on cameras and targets through the dashboard, `viewer` may
only look (a wall display).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

TokenKind = Literal["operator", "viewer"]
KINDS: tuple[TokenKind, ...] = ("operator", "viewer")

# Recognisable in a leaked paste or a secret scanner's rules; not part of the secret.
PREFIX = "ucvd_"
_SECRET_BYTES = 32
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# What a presented token may look like: refused before hashing if longer (a 1 MiB "token"
# costs nothing to reject).
MAX_TOKEN_CHARS = 128


class BadTokenName(ValueError):
    pass


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadTokenName(
            f"token name {name[:80]!r}: 1-64 characters, letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
