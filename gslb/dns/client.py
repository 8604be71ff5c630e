"""The client key: the client's network as the sticky policies see it, read off the query.

The ECS option of a query (RFC 7871) or, without one, its source address, truncated to the
configured prefix lengths. Built per query for sticky policies (source hash, topology), so it is a
tuple of bytes built with a handful of operations, not an ``ipaddress`` object.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

from gslb.dns.wire import ClientSubnet

FAMILY_IPV4 = 1  # IANA address family numbers, as in ECS (RFC 7871 6)
FAMILY_IPV6 = 2
FAMILY_BITS = {FAMILY_IPV4: 32, FAMILY_IPV6: 128}

# The first two bytes of every client key, (family, prefix), built once instead of per query.
_KEY_HEADERS: dict[int, tuple[bytes, ...]] = {
    family: tuple(bytes((family, prefix)) for prefix in range(bits + 1))
    for family, bits in FAMILY_BITS.items()
}
_V4_HEADERS = _KEY_HEADERS[FAMILY_IPV4]
# Module-level aliases: one global lookup instead of a global and an attribute per query.
_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_new_tuple = tuple.__new__


class ClientKey(NamedTuple):
    """The client's network as policies see it: what source_hash hashes and topology matches.

    A NamedTuple because one is built per sticky query, and a tuple is the cheapest immutable
    value to build.
    """

    key: bytes  # family (1 or 2), prefix length, then ceil(prefix / 8) address bytes, rest zero
    scope: int  # the prefix length: the ECS scope of an answer that depends on the whole key

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """As an ipaddress network, for tests and logs (too slow for the hot path)."""
        return ClientSubnet(self.key[0], self.scope, 0, self.key[2:]).network()


def client_key(
    address: str, ecs: ClientSubnet | None = None, v4_prefix: int = 24, v6_prefix: int = 56
) -> ClientKey:
    """The client's network: the ECS network when the query has one, else its source address.

    Either is truncated to ``v4_prefix`` / ``v6_prefix``; an ECS source prefix shorter than that
    is used as sent (the resolver told us no more). A dual-stack socket's IPv4-mapped address
    counts as IPv4. Runs per query for sticky policies, hence tuple.__new__, module-level
    aliases and no ipaddress.
    """
    if ecs is not None:
        family = ecs.family
        limit = v4_prefix if family == FAMILY_IPV4 else v6_prefix
        prefix = ecs.source_prefix
        if prefix <= limit:
            return _new_tuple(ClientKey, (_KEY_HEADERS[family][prefix] + ecs.address, prefix))
        return _new_tuple(ClientKey, (network_key(family, ecs.address, limit), limit))
    if ":" not in address:
        if v4_prefix & 7:
            return _new_tuple(
                ClientKey, (network_key(FAMILY_IPV4, _pton(_AF_INET, address), v4_prefix), v4_prefix)
            )
        return _new_tuple(
            ClientKey, (_V4_HEADERS[v4_prefix] + _pton(_AF_INET, address)[: v4_prefix >> 3], v4_prefix)
        )
    if address.startswith("::ffff:") and "." in address:
        return client_key(address[7:], None, v4_prefix, v6_prefix)
    packed = _pton(_AF_INET6, address.partition("%")[0])
    return _new_tuple(ClientKey, (network_key(FAMILY_IPV6, packed, v6_prefix), v6_prefix))


def network_key(family: int, packed: bytes, prefix: int) -> bytes:
    """(family, prefix) and the first ceil(prefix / 8) address bytes, bits past the prefix zeroed."""
    body = packed[: (prefix + 7) >> 3]
    spare = prefix & 7
    if spare and body[-1] & (0xFF >> spare):
        body = body[:-1] + bytes((body[-1] & (0xFF00 >> spare) & 0xFF,))
    return _KEY_HEADERS[family][prefix] + body
