"""Who a client is, for the limits that count per client.

The limits per client (open connections, its turn at the workers, heavy queries, the
throttle after killed workers) count by the peer's address. An IPv4 address is one client;
an IPv4 address reached over an IPv6 socket (``::ffff:a.b.c.d``) is the same client. An
IPv6 host is usually given a whole /64 and may use any address in it, so counting by the
full address would give it 2^64 clients' worth: IPv6 clients are counted by their /64.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """The key the per-client limits count ``address`` under: the IPv4 address, or the
    IPv6 /64 it is in (e.g. ``2001:db8:1:2::/64``); anything else (a Unix socket's
    path, an empty string) as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # (a zone index: fe80::1%eth0)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
