"""Which network addresses the server must not reach on someone else's say-so: what an
attachment's URL (webhooks/download.py) or an outbound webhook's endpoint
(docs/webhooks.md) resolves to is checked here before a connection is made."""

from __future__ import annotations

import ipaddress


def internal(address: str) -> bool:
    """Whether ``address`` is anything but a public unicast address: private, loopback,
    link-local (cloud metadata at 169.254.169.254), shared (100.64/10), reserved,
    multicast, unspecified, or an IPv6 form of one of those (v4-mapped, 6to4, Teredo)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and internal(str(embedded)):
            return True
    return not ip.is_global or ip.is_multicast


def literal(host: str) -> str | None:
    """``host`` as an IP address when it is one (``[::1]`` and ``::1`` alike), else None
    (a name, resolved only when connecting)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None
