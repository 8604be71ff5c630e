"""Small helpers to ask a server over real sockets with dnspython."""

from __future__ import annotations

import socket

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rdatatype


def ask(
    host: str,
    port: int,
    qname: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    edns: int | bool = False,
    payload: int = 1232,
    options: list[dns.edns.Option] | None = None,
    want_dnssec: bool = False,
    source: str | None = None,
) -> dns.message.Message:
    query = dns.message.make_query(
        qname, rdtype, use_edns=edns, payload=payload, options=options, want_dnssec=want_dnssec
    )
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=3, source=source)
    return dns.query.udp(query, host, port=port, timeout=3, source=source, ignore_trailing=False)


def raw_udp(host: str, port: int, payload: bytes, timeout: float = 1.0) -> bytes | None:
    """Send bytes as they are; the reply's bytes, or None if the server stayed silent."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (host, port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None
