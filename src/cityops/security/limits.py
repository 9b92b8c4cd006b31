"""Where the login throttle and the Open311 rate limits keep their counters.

In memory (the default): per server process, right for one server. With several servers
(`serve --workers N`, or hosts behind a load balancer) a client would get N times the limit,
so the counters move to Redis when `CITYOPS_REDIS` (or the city setting `limits.redis`) names
one, e.g. `redis://127.0.0.1:6379/0`: every server then counts the same failures and spends
the same tokens. Redis counters use wall-clock time (servers' clocks kept by NTP), each
operation is one atomic round trip (a Lua script), and keys expire on their own.

If Redis cannot be reached, the check lets the request through and logs it: a limit that
cannot be counted errs towards serving (as the in-memory throttle does after a restart).
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

from cityops.auth.throttle import LoginThrottle, TooManyAttempts
from cityops.intake.open311.keys import RateLimiter

log = logging.getLogger("cityops")
ENV = "CITYOPS_REDIS"
SETTING = "limits.redis"
PREFIX = "cityops:"

# Failures inside the window: drop the old, count the rest; the oldest says how long to wait.
_WINDOW = """
local cutoff = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local n = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {n, oldest[2] or '0'}
"""
# One failure: a member unique per call (time and a random suffix), expiring with the window.
_FAIL = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""
# A token bucket: refill for the time passed, take one if there is one.
_BUCKET = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
local ttl = 60
if rate > 0 then ttl = math.ceil(burst / rate) + 1 end
redis.call('EXPIRE', KEYS[1], ttl)
return ok
"""


def redis_url(platform: Any = None) -> str | None:
    url = os.environ.get(ENV)
    if url or platform is None:
        return url or None
    with platform.store.read() as repo:
        return repo.get_setting(SETTING) or None


def connect(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class RedisLoginThrottle(LoginThrottle):
    """LoginThrottle's rules, its counters in Redis (shared by every server)."""

    def __init__(self, client: Any, **limits: Any) -> None:
        super().__init__(**limits)
        self.client = client
        self._window = client.register_script(_WINDOW)
        self._fail = client.register_script(_FAIL)

    def check(self, account: str, address: str, now: float) -> None:
        now = time.time()
        for key, limit in ((f"u:{account}", self.per_account), (f"a:{address}", self.per_address)):
            try:
                count, oldest = self._window(keys=[PREFIX + "login:" + key], args=[now, self.window])
            except Exception as exc:  # noqa: BLE001 - see the module's note
                log.warning("login throttle: Redis unavailable, not counting: %s", exc)
                return
            if int(count) >= limit:
                wait = max(1, math.ceil(float(oldest) + self.window - now))
                raise TooManyAttempts(f"too many failed logins; try again in {wait} s",
                                      f"登录失败次数过多，请 {wait} 秒后再试", retry_after=wait)

    def failed(self, account: str, address: str, now: float) -> None:
        now = time.time()
        member = f"{now:.6f}:{os.urandom(4).hex()}"
        try:
            for key in (f"u:{account}", f"a:{address}"):
                self._fail(keys=[PREFIX + "login:" + key], args=[now, self.window, member])
        except Exception as exc:  # noqa: BLE001
            log.warning("login throttle: Redis unavailable, failure not counted: %s", exc)

    def succeeded(self, account: str) -> None:
        try:
            self.client.delete(PREFIX + f"login:u:{account}")
        except Exception as exc:  # noqa: BLE001
            log.warning("login throttle: Redis unavailable: %s", exc)


class RedisRateLimiter(RateLimiter):
    """RateLimiter's token buckets, kept in Redis (shared by every server)."""

    def __init__(self, client: Any, rate: float, burst: float) -> None:
        super().__init__(rate=rate, burst=burst)
        self.client = client
        self._bucket = client.register_script(_BUCKET)

    def allow(self, name: str, now: float) -> bool:
        try:
            return bool(self._bucket(keys=[PREFIX + "open311:" + name], args=[self.rate, self.burst, time.time()]))
        except Exception as exc:  # noqa: BLE001 - see the module's note
            log.warning("Open311 rate limit: Redis unavailable, not counting: %s", exc)
            return True


def login_throttle(platform: Any = None) -> LoginThrottle:
    url = redis_url(platform)
    return RedisLoginThrottle(connect(url)) if url else LoginThrottle()


def open311_limiter(platform: Any = None) -> RateLimiter:
    local = RateLimiter.from_env()
    url = redis_url(platform)
    return RedisRateLimiter(connect(url), local.rate, local.burst) if url else local
