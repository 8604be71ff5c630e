"""Kernel UDP counters from /proc/net/snmp: whether datagrams were dropped for want of socket buffer space.

When dnsperf reports lost queries on loopback, a rise of RcvbufErrors during the run says the packets were
dropped by the kernel because a receiving socket (the server's or dnsperf's) was full, not lost by a server.
The counters are for the whole network namespace, so other traffic on the machine counts too.
"""

from __future__ import annotations

from pathlib import Path


def udp_counters() -> dict[str, int]:
    """The ``Udp:`` line pair of /proc/net/snmp as a name -> value mapping."""
    rows = [
        line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")
    ]
    if len(rows) < 2:
        raise ValueError("/proc/net/snmp has no Udp counters")
    names, values = rows[0][1:], rows[1][1:]
    return {name: int(value) for name, value in zip(names, values, strict=True)}


def udp_receive_buffer_errors() -> int:
    return udp_counters().get("RcvbufErrors", 0)
