"""The SSRF guard: which addresses the fetcher may connect to.

Feeds are configured by users and redirect wherever their servers like, so a feed
URL must not become a way to reach the machine's own services or its private network.
``is_public_address`` is the rule; ``GuardedResolver`` applies it inside aiohttp's
resolver, where the check and the connection use the same addresses.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["BlockedAddressOSError", "GuardedResolver", "is_public_address"]


def is_public_address(address: str) -> bool:
    """True if ``address`` (an IP literal) is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and friends reach IPv4 hosts: judge the IPv4 address.
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public_address(str(mapped))
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


class BlockedAddressOSError(OSError):
    """Raised inside aiohttp's resolver; found again in the exception chain."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to non-public address {address}")
        self.host = host
        self.address = address


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses a name if ANY of its addresses is non-public.

    aiohttp connects only to the addresses returned here, so the check and the
    connection cannot disagree (no DNS-rebinding window).
    """

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not is_public_address(result["host"]):
                raise BlockedAddressOSError(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()
