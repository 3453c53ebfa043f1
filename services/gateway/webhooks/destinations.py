"""Where a webhook may point: the server-side request forgery (SSRF) guard.

A webhook makes Linju send requests to an address a client chose, so an address inside the
deployment's own network would turn the dispatcher into a proxy towards it. Refused, unless the
operator lists the host or its network in ``LINJU_WEBHOOK_ALLOWED_HOSTS``:

* every address that is not globally routable: private (10/8, 172.16/12, 192.168/16), loopback,
  link-local (169.254/16, fe80::/10), unique-local (fc00::/7), carrier-grade NAT (100.64/10),
  unspecified, reserved and documentation ranges; multicast; IPv4 addresses wrapped in IPv6
  (``::ffff:10.0.0.1``, NAT64, 6to4) are judged by the IPv4 address inside;
* cloud metadata endpoints by address (169.254.169.254, fd00:ec2::254, Alibaba Cloud's
  100.100.100.200, Azure's 168.63.129.16 …) and by name (``metadata.google.internal`` …): these
  need the exact address or name in the allow-list, a covering network is not enough.

Names are resolved (``getaddrinfo`` off the event loop) and *every* address they resolve to must
pass. The dispatcher checks again before each attempt and connects to the address it checked, so
a name that resolves elsewhere later (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_S = 5.0

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Tencent Cloud …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address!)
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.azure.internal",
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated "IPv4-compatible" addresses (::a.b.c.d); `::` and `::1` are judged as themselves.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class DestinationRefused(Exception):
    """The URL may not be used as a webhook destination; ``str(exc)`` says why (English)."""

    def __init__(self, reason: str, reason_zh: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_zh = reason_zh


@dataclass(frozen=True)
class AllowList:
    """The operator's explicit exceptions: host names (exact, case-insensitive) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in setting.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        for network in self.networks:
            if address.version != network.version or address not in network:
                continue
            # A metadata endpoint needs to be named exactly, not merely covered by a network.
            if address in METADATA_ADDRESSES and network.num_addresses != 1:
                continue
            return True
        return False


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address) or int(address) <= 1:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why this address is not a public destination, or None when it is one."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        reason = forbidden_reason(inner)
        return f"{reason} (inside {address})" if reason else None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata endpoint"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if not address.is_global or address.is_reserved:
        return f"{address} is a private or reserved address"
    return None


def parse_url(url: str, *, require_https: bool) -> httpx.URL:
    """The URL if its form is acceptable (scheme, host, no credentials); addresses are not checked."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(
            f"the URL is longer than {MAX_URL_LENGTH} characters", f"URL 超过 {MAX_URL_LENGTH} 个字符"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise DestinationRefused("not a valid URL", "不是有效的 URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DestinationRefused("must be an absolute http(s) URL", "必须是完整的 http(s) URL")
    if require_https and parsed.scheme != "https":
        raise DestinationRefused("must use https", "必须使用 https")
    if parsed.userinfo:
        raise DestinationRefused(
            "must not contain credentials; verify the webhook-signature header instead",
            "URL 中不得包含用户名或密码,请改为校验 webhook-signature 签名",
        )
    if parsed.fragment:
        raise DestinationRefused("must not contain a fragment (#…)", "URL 不得包含片段(#…)")
    return parsed


def url_host(url: httpx.URL) -> str:
    """The host as sent on the wire (IDNA-encoded, lower case, no IPv6 brackets)."""
    return url.raw_host.decode("ascii").lower().strip("[]")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    # The loop runs getaddrinfo in its default executor: the event loop never blocks on DNS.
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
        RESOLVE_TIMEOUT_S,
    )
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def check_destination(
    url: httpx.URL, allow: AllowList, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses to connect to for ``url``; :class:`DestinationRefused` when any is forbidden."""
    host = url_host(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: Sequence[IPAddress] = [literal]
    else:
        if host.rstrip(".") in METADATA_HOSTNAMES and not allow.allows_host(host):
            raise DestinationRefused(f"{host} is a cloud metadata endpoint", f"{host} 是云平台元数据服务地址")
        try:
            addresses = await resolver(host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise DestinationRefused(f"the host {host} does not resolve", f"无法解析主机 {host}") from exc
        if not addresses:
            raise DestinationRefused(f"the host {host} does not resolve", f"无法解析主机 {host}")
        if allow.allows_host(host):
            return list(addresses)
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None and not allow.allows_address(address):
            where = "" if literal is not None else f"{host} resolves to "
            where_zh = "" if literal is not None else f"{host} 解析为 "
            raise DestinationRefused(
                f"{where}{reason}; only public addresses may receive webhooks",
                f"{where_zh}{address},不是公网地址(私有、环回、链路本地、组播或云元数据地址);只能向公网地址推送",
            )
    return list(addresses)
