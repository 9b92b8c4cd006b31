"""API keys (only SHA-256 digests are stored) and a per-key token-bucket rate limiter."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime

from cityops.errors import InvalidInput
from cityops.store.base import ApiKey

SCOPES = ("report", "backoffice")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_RATE = 10.0  # requests per second, per key
DEFAULT_BURST = 50.0


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, scope: str, now: datetime) -> tuple[str, ApiKey]:
    """(the plain key, to show once; the record to store)."""
    if not _NAME.match(name):
        raise InvalidInput(
            "API key name must be 1-64 letters, digits, '.', '-' or '_'", "密钥名须为 1-64 位字母、数字或 . - _"
        )
    if scope not in SCOPES:
        raise InvalidInput(f"unknown scope '{scope}'; use one of: {', '.join(SCOPES)}", f"未知的权限范围 {scope}")
    plain = "o311_" + secrets.token_urlsafe(24)
    return plain, ApiKey(name=name, key_hash=digest(plain), scope=scope, created_at=now)


@dataclass
class TokenBucket:
    """`rate` tokens per second up to `burst`; one request takes one token."""

    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class RateLimiter:
    """In-memory buckets per key name (one server process; a cluster would share them)."""

    rate: float = DEFAULT_RATE
    burst: float = DEFAULT_BURST
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_env(cls) -> RateLimiter:
        """CITYOPS_OPEN311_RATE (requests/s) and CITYOPS_OPEN311_BURST configure the limit."""
        rate = float(os.environ.get("CITYOPS_OPEN311_RATE", DEFAULT_RATE))
        burst = float(os.environ.get("CITYOPS_OPEN311_BURST", max(DEFAULT_BURST, rate)))
        return cls(rate=rate, burst=burst)

    def allow(self, name: str, now: float) -> bool:
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = TokenBucket(self.rate, self.burst, self.burst, now)
            return bucket.take(now)

    def retry_after(self) -> float:
        return 1.0 / self.rate if self.rate > 0 else 1.0
