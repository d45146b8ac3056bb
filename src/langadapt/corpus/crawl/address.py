"""The address guard (SSRF): which resolved addresses a crawl may connect to.

Private, loopback, link-local, multicast, reserved and cloud-metadata addresses are refused unless
``allow_hosts`` names the host, the IP or its network. The check runs on the address *after* DNS
resolution and the connection is pinned to it (fetch.Fetcher), so DNS rebinding cannot swap it.
"""

from __future__ import annotations

import ipaddress

# Cloud metadata services (all also non-global; named so the skip reason says what was refused).
METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)

def address_category(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be crawled (None: a public unicast address)."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip in METADATA_IPS:
        return "metadata"
    for cat in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{cat}"):
            return cat
    if not ip.is_global:
        return "non_global"
    return None


class AddressPolicy:
    """Refuses non-public addresses unless the host name, the IP or a network containing it is allowed."""

    def __init__(self, allow: list[str]):
        self.names: set[str] = set()
        self.nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().lower().strip("[]")
            try:
                self.nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.rstrip("."))

    def refusal(self, host: str, ip_text: str) -> str | None:
        ip = ipaddress.ip_address(ip_text.split("%")[0])
        cat = address_category(ip)
        if cat is None or host.lower() in self.names or any(ip in n for n in self.nets):
            return None
        return cat

