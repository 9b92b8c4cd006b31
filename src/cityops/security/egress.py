"""Outbound HTTP goes only where the city allows (the one place that decides; SSRF defence).

A URL someone gave the server (a case subscription's or an Open311 app's webhook, a warning
webhook) is vetted twice: when it is given (a clear 422 / Open311 400), and again when it is
called, because DNS may answer differently by then. Vetting resolves the host and refuses it
if ANY of its addresses is loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with
the cloud metadata address, fe80::/10), unspecified, multicast, reserved or otherwise not
global, including such an IPv4 address inside IPv6 (::ffff:127.0.0.1, 6to4, NAT64) — unless a
network the city allow-listed (`security.egress_allow`) contains it.

`post` then connects to the very address it vetted (the Host header and TLS name stay the
URL's), so a second DNS answer cannot slip in between check and use, and it never follows a
redirect: a 3xx is a failed delivery. The city's own configured endpoints (notify.sms_url,
the LLM's URL) are trusted configuration: `post(..., vet=False)` skips the address check but
still follows no redirect.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cityops.errors import InvalidInput
from cityops.security.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
HINT_EN = "a city may allow a network with `cityops security set egress_allow CIDR`"
HINT_ZH = "如确需访问，可由城市管理员执行 `cityops security set egress_allow 网段` 放行"


class Refused(InvalidInput):
    """An outbound URL the city does not allow."""


def _embedded(ip: Address) -> Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: Address) -> str | None:
    """Why this address is not for outbound requests, or None: it is a global unicast address."""
    for label, flag in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                        ("link-local/metadata", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return label
    return None if ip.is_global else "not global"


def refusal(ip: Address, allow: Sequence[Network] = ()) -> str | None:
    """The reason `ip` is refused, or None. The allow-list is checked on the address as given
    and on the IPv4 address it embeds."""
    inner = _embedded(ip)
    if any(ip in net for net in allow if net.version == ip.version):
        return None
    if inner is not None and any(inner in net for net in allow if net.version == 4):
        return None
    reason = _kind(ip if inner is None else inner)  # a wrapped address goes where its IPv4 part does
    return None if reason is None else f"{ip} is {reason}"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]  # the vetted addresses the connection may go to, in DNS order


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused(f"'{url}' is not a valid URL", "URL 格式不正确") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"'{url}' must be an http(s) URL with a host", "只接受带主机名的 http(s) URL")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (blocking: call off the event loop)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: e.g. a NUL in the name
        raise Refused(f"cannot resolve '{host}': {exc}", f"无法解析主机名 {host}") from None
    out: list[Address] = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if addr not in out:
            out.append(addr)
    if not out:
        raise Refused(f"'{host}' has no address", f"主机名 {host} 没有地址")
    return out


def vet(url: str, allow: Sequence[Network] = ()) -> Target:
    """The target of `url` if every address its host resolves to is allowed; else Refused
    naming the address and why. Blocking (DNS): call off the event loop."""
    scheme, host, port, path = _split(url)
    addresses = resolve(host, port)
    for ip in addresses:
        why = refusal(ip, allow)
        if why is not None:
            raise Refused(f"'{url}' is refused: {host} resolves to {why}; outbound requests go only to "
                          f"public addresses ({HINT_EN})",
                          f"拒绝访问 {url}：{host} 解析为内网、本机或保留地址 {ip}，只允许访问公网地址（{HINT_ZH}）")
    return Target(scheme, host, port, path, tuple(map(str, addresses)))


def check_url(url: str, allow: Sequence[Network] = ()) -> str:
    """`url` unchanged if it may be called now (for subscription time)."""
    vet(url, allow)
    return url


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first vetted address that answers (as create_connection tries each
    address of a name, but only these)."""
    error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to a vetted address; the Host header is still the URL's host."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to a vetted address, with SNI and the certificate checked for the URL's host."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str], allow: Sequence[Network] = (),
         timeout: float = 15.0, vet_address: bool = True) -> str | None:
    """POST `body` to `url`; None when a 2xx came back, else what went wrong (never raises for
    network trouble). Blocking: call off the event loop."""
    try:
        if vet_address:
            target = vet(url, allow)
        else:
            scheme, host, port, path = _split(url)
            target = Target(scheme, host, port, path, (host,))
    except Refused as exc:
        return f"refused: {exc.message_en}"
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target.host, target.port, target.addresses, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)
        if 300 <= resp.status < 400:
            return f"http {resp.status}: redirects are not followed"
        return None if 200 <= resp.status < 300 else f"http {resp.status}"
    except (OSError, http.client.HTTPException) as exc:
        return f"post: {exc}"
    finally:
        conn.close()


async def check_given(platform: Any, url: str) -> str:
    """Subscription time: `url` if the city allows calling it, else Refused (422). The DNS
    lookup runs in a thread, off the event loop."""
    import asyncio

    from cityops.security.settings import load

    allow = await platform.aread(lambda repo: load(repo).egress_allow)
    return await asyncio.to_thread(check_url, url, allow)
