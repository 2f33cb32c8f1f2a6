"""Who the client is, when a trusted proxy stands in front (X-Forwarded-For).

A per-address limit (identity's logins, the hall's search) must count the person, not the
workbench that forwards their login. But anybody can send X-Forwarded-For, so the header is
believed ONLY when the TCP peer is one of the proxies named in MINSHENG_TRUSTED_PROXIES
(addresses or CIDR networks, comma-separated; default none). The client is then the right-most
address in the header that is not itself a trusted proxy (RFC 7239's rule: every hop appends,
so only the entries our own proxies wrote can be believed).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.5, 10.1.0.0/16' -> networks; a malformed entry is an error at start."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"MINSHENG_TRUSTED_PROXIES: {entry!r} is not an address or "
                                 "a network") from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request) -> str:
    """The caller's address: the TCP peer, or the address a trusted proxy forwards for."""
    peer = request.client.host if request.client else "unknown"
    networks: tuple[Network, ...] = getattr(request.app.state, "trusted_proxies", ())
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled header from our own proxy: count the proxy
    return peer
