"""The city's security settings, kept in the settings table (keys security.*).

- `egress_allow`: networks (CIDR, comma-separated) the server may send to although they are
  loopback, private, link-local or otherwise not global; empty by default: none.
- `trusted_proxies`: networks of the reverse proxies whose X-Forwarded-For / X-Real-IP name the
  client; empty by default: forwarded headers are ignored and the direct peer is the client.
- `two_person`: `on` (default) or `off`: whether a warning's approver must differ from its drafter.

Set with `cityops security set KEY VALUE`; every process reads the same values from the database.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityops.errors import InvalidInput

PREFIX = "security."
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
KEYS = ("egress_allow", "trusted_proxies", "two_person")


def networks(value: str, key: str = "egress_allow") -> tuple[Network, ...]:
    """Comma- or space-separated CIDRs (a bare address is a /32 or /128); raises on a bad one."""
    out = []
    for item in value.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise InvalidInput(f"security.{key}: '{item}' is not an address or network (CIDR, e.g. 10.0.0.0/8)",
                               f"security.{key}：{item} 不是地址或网段（CIDR，如 10.0.0.0/8）") from None
    return tuple(out)


def _switch(value: str) -> bool:
    v = value.strip().lower()
    if v not in ("on", "off", "true", "false", "1", "0"):
        raise InvalidInput(f"security.two_person must be on or off, not '{value}'", "security.two_person 只能是 on 或 off")
    return v in ("on", "true", "1")


@dataclass(frozen=True)
class SecurityConfig:
    egress_allow: tuple[Network, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    two_person: bool = True


def check_setting(key: str, value: str) -> str:
    """The full settings key for `key` (with or without the prefix); raises if unknown or invalid."""
    name = key.removeprefix(PREFIX)
    if name not in KEYS:
        raise InvalidInput(f"unknown setting '{key}'; known: {', '.join(KEYS)}", f"未知的设置项 {key}")
    if name == "two_person":
        _switch(value)
    else:
        networks(value, name)
    return PREFIX + name


def parse(values: dict[str, str]) -> SecurityConfig:
    """From {key without prefix: value}; a stored value that no longer parses counts as unset
    for allow-lists (refuse more, never less) and as `on` for the two-person rule."""
    def nets(key: str) -> tuple[Network, ...]:
        try:
            return networks(values.get(key, ""), key)
        except InvalidInput:
            return ()

    try:
        two = _switch(values["two_person"]) if "two_person" in values else True
    except InvalidInput:
        two = True
    return SecurityConfig(nets("egress_allow"), nets("trusted_proxies"), two)


def load(repo_or_conn: Any) -> SecurityConfig:
    conn = getattr(repo_or_conn, "conn", repo_or_conn)
    rows = conn.execute("SELECT key, value FROM settings WHERE key LIKE 'security.%'").fetchall()
    return parse({str(k)[len(PREFIX):]: str(v) for k, v in rows})


def show(cfg: SecurityConfig) -> list[tuple[str, str]]:
    def joined(nets: Sequence[Network]) -> str:
        return ",".join(map(str, nets))
    return [("egress_allow", joined(cfg.egress_allow)), ("trusted_proxies", joined(cfg.trusted_proxies)),
            ("two_person", "on" if cfg.two_person else "off")]
