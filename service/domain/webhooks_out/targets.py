"""Where an outbound endpoint may point: a usable URL, and no private address unless allowed."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit


class EndpointProblem(Exception):
    """An endpoint cannot be added or used as asked; the message says why."""


class TargetRefused(EndpointProblem):
    """The endpoint's address is loopback, link-local or private and that was not allowed."""


# IPv6 forms that carry an IPv4 address the packets end up at: judged by that address, or
# 2002:7f00:1:: (6to4 of 127.0.0.1) would pass as a global IPv6 address.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """Return the IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client): both are reached on the way
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in NAT64_WELL_KNOWN:
        return (last32,)
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return (last32,)
    return ()


def _reason_v4_or_v6(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def refusal_reason(address: str) -> str | None:
    """Say why an IP address is no place to send events to unless allowed (None: public)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE:
            return "private"  # a network-specific translator: what it reaches is local
        carried = embedded_ipv4(ip)
        if carried:
            reasons = [_reason_v4_or_v6(v4) for v4 in carried]
            return next((r for r in reasons if r), None)
    return _reason_v4_or_v6(ip)


def check_target(url: str, addresses: Sequence[str], *, allow_private: bool) -> None:
    """Refuse a target that resolves to any non-public address, unless the admin allowed it."""
    if allow_private:
        return
    if not addresses:
        raise TargetRefused(f"{urlsplit(url).hostname} does not resolve")
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            raise TargetRefused(
                f"{urlsplit(url).hostname} resolves to a {reason} address ({address}); "
                "add the endpoint with --allow-private if that is intended"
            )


def validate_url(url: str) -> str:
    """Return a usable endpoint URL (http or https with a host, no credentials)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointProblem("the endpoint must be an http(s) URL such as https://crm.example.fi/hook")
    if parts.username or parts.password:
        raise EndpointProblem("put no credentials in the endpoint URL; deliveries are signed")
    if len(url) > 2000:
        raise EndpointProblem("the endpoint URL is longer than 2000 characters")
    return url.strip()
