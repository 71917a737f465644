"""Which addresses an outbound request may reach: the policy the guard vets each one by.

Never: link-local and cloud metadata, unspecified, multicast, broadcast, reserved (and the
IPv6 spellings of these IPv4 hosts); only if allowed: loopback, private, CGNAT and other
non-global addresses, by MODELDESK_ALLOWED_NETWORKS or a host:port an admin trusts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import httpx

from core.config import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in rows)


# Checked first; neither the allowlist nor a trusted host opens these.
_NEVER = _table(
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("168.63.129.16/32", "cloud platform endpoint"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_UNLESS_ALLOWED = _table(
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("fc00::/7", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
)
_NAT64, _V4_COMPATIBLE = ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96")


def _judged(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    # IPv6 spellings that reach (or name) an IPv4 host are judged as that IPv4 host.
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped or ip.sixtofour:
            return ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def host_key(host: str, port: int) -> str:
    """host:port as a trusted-host entry spells it ([v6]:port, lower case, no final dot)."""
    host = host.strip("[]").rstrip(".").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True)
class OutboundPolicy:
    """Which non-public destinations outbound requests may reach."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    trusted_hosts: frozenset[str] = frozenset()  # "host:port" an admin trusts

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy MODELDESK_ALLOWED_NETWORKS describes, trusting no host."""
        return cls(
            allowed_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks
            )
        )

    def trusting(self, base_url: str) -> OutboundPolicy:
        """A copy that also trusts base_url's host:port (a URL without a host adds nothing)."""
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            return self
        if url.scheme not in ("http", "https") or not url.host:
            return self
        key = host_key(url.host, url.port or (443 if url.scheme == "https" else 80))
        return dataclasses.replace(self, trusted_hosts=self.trusted_hosts | {key})

    def refusal(self, address: str, *, host: str = "", port: int = 0) -> str | None:
        """Why connecting to address (resolved from host:port) is refused, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        judged = _judged(ip)
        shown = f"{host} ({address})" if host and host.strip("[]") != address else address
        for network, never in _NEVER:
            if judged in network:
                return f"refused {shown}: {never} addresses are never allowed"
        kind = next(
            (k for network, k in _UNLESS_ALLOWED if judged in network),
            None if judged.is_global else "special-purpose",
        )
        if (
            kind is None
            or host_key(host, port) in self.trusted_hosts
            or any(judged in network or ip in network for network in self.allowed_networks)
        ):
            return None
        return f"refused {shown}: {kind} address not in MODELDESK_ALLOWED_NETWORKS"
