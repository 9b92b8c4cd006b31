"""Login throttling: repeated wrong passwords slow down per account and per address.

After `per_account` failures for one user name within `window` seconds (or `per_address`
from one client address), further attempts are refused with 429 and Retry-After until the
oldest failure leaves the window, without even checking the password (a locked account costs
no Argon2 time). A success clears the account's failures. In memory, per server process:
a restart forgets, which only ever errs towards letting a person in.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from cityops.errors import CityopsError


class TooManyAttempts(CityopsError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message_en: str, message_zh: str = "", retry_after: int = 60) -> None:
        super().__init__(message_en, message_zh)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[TooManyAttempts], tuple[str, str, int]]:  # type: ignore[override]
        return type(self), (self.message_en, self.message_zh, self.retry_after)


@dataclass
class LoginThrottle:
    per_account: int = 5
    per_address: int = 30
    window: float = 900.0  # seconds
    max_keys: int = 100_000  # memory bound: beyond it the stalest keys are dropped
    _fails: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._fails[key]
        return times

    def check(self, account: str, address: str, now: float) -> None:
        """Raise 429 if this account or address is locked out now."""
        for key, limit in ((f"u:{account}", self.per_account), (f"a:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(1, math.ceil(times[0] + self.window - now))
                raise TooManyAttempts(
                    f"too many failed logins; try again in {wait} s",
                    f"登录失败次数过多，请 {wait} 秒后再试", retry_after=wait)

    def failed(self, account: str, address: str, now: float) -> None:
        if len(self._fails) >= self.max_keys:
            for key in list(self._fails)[: self.max_keys // 10]:
                del self._fails[key]
        for key in (f"u:{account}", f"a:{address}"):
            self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        self._fails.pop(f"u:{account}", None)
