"""The real client address, for login throttling: one place decides.

The direct peer is the client, unless it is a proxy the city named (`security.trusted_proxies`).
Then X-Forwarded-For is read from the right, each hop a trusted proxy appended, and the first
address that is not a trusted proxy is the client; without X-Forwarded-For, X-Real-IP. A client
that sends its own X-Forwarded-For (or a changing one) straight to the server changes nothing.
`cityops serve` runs uvicorn with proxy_headers off, so uvicorn trusts no header either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cityops.security.settings import Network


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(value: str, trusted: Sequence[Network]) -> bool:
    ip = _ip(value)
    if ip is None:
        return False
    inner = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in n or (inner is not None and inner in n) for n in trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], real_ip: str | None,
                   trusted: Sequence[Network]) -> str:
    """The client's address: `peer` (the socket's) unless it is a trusted proxy."""
    if not peer:
        return "-"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]
    if hops:
        return hops[0][:64]  # every hop is one of ours: the first is as far as we know
    if real_ip and real_ip.strip():
        return real_ip.strip()[:64]
    return peer
