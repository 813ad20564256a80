"""API keys: from CREDITFLOW_API_KEYS (comma-separated) or a file of SHA-256 hex digests, one a line.

Keys are kept only as SHA-256 digests. A presented key is hashed and compared with every stored
digest using `hmac.compare_digest` (constant time; no early exit), so timing says nothing about
which key, or how much of one, matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from creditflow.data.errors import CreditflowError

API_KEYS_ENV = "CREDITFLOW_API_KEYS"
ADMIN_KEYS_ENV = "CREDITFLOW_ADMIN_KEYS"
_HEX = re.compile(r"^[0-9a-f]{64}$")
MIN_KEY_LENGTH = 16


class KeysError(CreditflowError):
    """The API or admin keys cannot be read (no file, a line that is no digest, no key at all)."""


def hash_key(key: str) -> str:
    """SHA-256 hex digest of an API key (what a keys file stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (32 bytes, URL-safe text)."""
    return "cf_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyRing:
    """The SHA-256 digests of the accepted keys."""

    digests: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.digests)

    def check(self, presented: str | None) -> bool:
        """True when `presented` is one of the keys; compares against every digest in constant time."""
        if not presented or not self.digests:
            return False
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        ok = False
        for d in self.digests:
            ok |= hmac.compare_digest(digest, d)
        return ok

    @classmethod
    def from_plain(cls, keys: list[str]) -> KeyRing:
        return cls(tuple(hashlib.sha256(k.encode("utf-8")).digest() for k in keys))

    @classmethod
    def from_hex(cls, digests: list[str]) -> KeyRing:
        return cls(tuple(bytes.fromhex(d) for d in digests))

    def merged(self, other: KeyRing) -> KeyRing:
        return KeyRing(self.digests + other.digests)


def keys_from_env(name: str) -> KeyRing:
    """Plain keys from a comma-separated environment variable (empty when unset)."""
    raw = os.environ.get(name, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    for k in keys:
        check_plain_key(k, name)
    return KeyRing.from_plain(keys)


def check_plain_key(key: str, where: str) -> None:
    """Refuse a key too short to be secret, or one that can never match (spaces around it: HTTP headers
    drop them). The key itself is never shown."""
    if key != key.strip():
        raise CreditflowError(f"{where}: a key with spaces around it can never match a request's header, "
                              "which drops them")
    if len(key) < MIN_KEY_LENGTH:
        raise CreditflowError(f"{where}: a key shorter than {MIN_KEY_LENGTH} characters; use `creditflow keys new` "
                              "for a strong key")


def keys_from_file(path: str | Path) -> KeyRing:
    """SHA-256 hex digests, one a line; blank lines and lines starting with # are skipped."""
    path = Path(path)
    if not path.is_file():
        raise KeysError("no such API keys file", file=str(path))
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:  # permissions, I/O: a reload refused with 422, not a 500 (nor a stopped supervisor)
        raise KeysError(f"cannot read the API keys file: {exc.strerror or exc}", file=str(path)) from None
    digests = []
    for i, line in enumerate(content.splitlines(), start=1):
        text = line.split("#", 1)[0].strip().lower()
        if not text:
            continue
        text = text.split()[0]
        if not _HEX.match(text):
            raise KeysError("not a SHA-256 hex digest (64 hex characters); make one with "
                                  "`creditflow keys hash`", file=str(path), row=i)
        digests.append(text)
    if not digests:
        raise KeysError("the API keys file holds no key digests", file=str(path))
    return KeyRing.from_hex(digests)


def load_keys(env: str, file: str | Path | None) -> KeyRing:
    """Keys from the environment variable and the file together."""
    ring = keys_from_env(env)
    if file is not None:
        ring = ring.merged(keys_from_file(file))
    return ring


def presented_key(headers: dict[str, str]) -> str | None:
    """The key a request carries: X-API-Key, or Authorization: Bearer <key> (lower-case header names)."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None
