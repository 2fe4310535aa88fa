"""Who the client really is behind a TLS-terminating proxy: X-Forwarded-For and X-Forwarded-Proto.

The headers are believed only when the connection comes from a proxy listed in TRUSTED_PROXIES (README,
"Operations"); from anyone else they are ignored, since any client can send them. `resolve` is plain code on
plain data; `forwarded_middleware` is the thin aiohttp edge that hands handlers a request whose `remote`,
`scheme` (and so `url`, the own-origin check, the logs) are the client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CLIENT_ADDRESS = web.RequestKey("client_address", str)
"""Set on the request aiohttp itself holds (the one its access log sees) when a trusted proxy named the client."""


@dataclass(frozen=True, slots=True)
class ClientView:
    remote: str | None
    scheme: str


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`127.0.0.1, ::1, 10.0.0.0/8` into networks; ValueError naming the first item that is not one."""
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network such as 10.0.0.0/8") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443, as some proxies write it
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:5000
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in trusted)


def resolve(peer: str | None, scheme: str, headers: Mapping[str, str], trusted: tuple[Network, ...]) -> ClientView:
    """The client's address and scheme, given the connection's peer and scheme and the request's headers.

    From a trusted peer: the client is the right-most X-Forwarded-For entry that is not itself a trusted proxy
    (entries further left were written by the client and prove nothing), and the scheme is X-Forwarded-Proto's
    last value when it is http or https. From any other peer, or without the headers: the connection's own.
    """
    if not _trusted(_address(peer or ""), trusted):
        return ClientView(peer, scheme)
    remote = peer
    hops = [h for h in ",".join(_all(headers, "X-Forwarded-For")).split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage where an address should be: believe nothing further left
        remote = str(address)
        if not _trusted(address, trusted):
            break
    proto = ",".join(_all(headers, "X-Forwarded-Proto")).split(",")[-1].strip().lower()
    return ClientView(remote, proto if proto in ("http", "https") else scheme)


def _all(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = headers.get(name)
    return [value] if value is not None else []


def forwarded_middleware(trusted: tuple[Network, ...]) -> Middleware:
    """Handlers see the client's address and scheme when a trusted proxy forwarded the request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        view = resolve(request.remote, request.scheme, request.headers, trusted)
        if view.remote == request.remote and view.scheme == request.scheme:
            return await handler(request)
        if view.remote is not None:
            request[CLIENT_ADDRESS] = view.remote
        return await handler(request.clone(remote=view.remote or "", scheme=view.scheme))

    return middleware
