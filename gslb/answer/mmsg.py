"""The UDP loop on Linux: datagrams read and sent in batches, ``recvmmsg``/``sendmmsg`` through ctypes.

Under load most of a query's cost is not ``respond`` (about 1.2 µs) but the two system calls
around it and the Python objects each one makes. gdnsd and Knot read and send up to a batch of
datagrams per call; Python's socket module has no such call, so this module reaches libc's
directly. One ``recvmmsg`` waits for the first datagram and takes every one already queued
(``MSG_WAITFORONE``), and one ``sendmmsg`` sends all their answers. When queries arrive one at a
time a batch is one datagram, and the cost is that of ``recvfrom``/``sendto``; when they queue
up, the calls are shared by the batch.

The message vectors, the address and data slots are allocated once per listener and reused:
the loop reads lengths and writes pointers through memoryviews of them, never through ctypes
attribute access (several times dearer). Slots are as large as a UDP datagram can be, so nothing
is truncated on the way in; they are anonymous maps, so pages no datagram reaches take no memory.

``available()`` says whether this platform has the calls; gslb/answer/server.py falls back to a
``recvfrom``/``sendto`` loop when it does not, or when ``udp_batch`` is 1.
"""

from __future__ import annotations

import ctypes
import mmap
import socket
import sys
import threading
from collections.abc import Callable
from functools import cache

from gslb.runtime.libc import libc as c_library

SLOT = 65536
"""Bytes per datagram slot: any UDP payload fits (65,507 at most over IPv4)."""
STRIDE = SLOT + 17 * 64
"""Bytes from one slot's start to the next's. Not a power of two: slots 64 KiB apart would all start
in the same cache set, and a batch's datagrams would evict each other from the CPU's caches; an odd
number of cache lines more puts each of 64 slots' first line in a set of its own."""
NAME_SLOT = 28
"""Bytes per address slot: a sockaddr_in6; a sockaddr_in (16) fits too."""
MSG_WAITFORONE = 0x10000
ADDRESS_CACHE_LIMIT = 4096
"""Client addresses kept as strings; resolvers are few, so a full cache is simply emptied."""

Respond = Callable[[bytes, str], bytes | None]
Report = Callable[[BaseException], None]


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("length", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("hdr", _MsgHdr), ("length", ctypes.c_uint))


@cache
def _libc() -> ctypes.CDLL | None:
    """libc with both calls, or None (not Linux, or a libc without them)."""
    libc = c_library()
    if libc is None:
        return None
    try:
        recvmmsg, sendmmsg = libc.recvmmsg, libc.sendmmsg
    except AttributeError:
        return None
    recvmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
    sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    recvmmsg.restype = sendmmsg.restype = ctypes.c_int
    return libc


def available() -> bool:
    return _libc() is not None


def _address_of(buffer: bytearray | mmap.mmap) -> int:
    return ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))


class Batches:
    """The buffers of one listener's batched loop: ``size`` messages each way."""

    def __init__(self, family: socket.AddressFamily, size: int) -> None:
        self.message_size = ctypes.sizeof(_MMsgHdr)
        self.received = bytearray(self.message_size * size)
        self.sending = bytearray(self.message_size * size)
        # Anonymous maps, not bytearrays: a bytearray is zeroed, so all of its pages would be resident.
        self.data = mmap.mmap(-1, STRIDE * size)
        self.answers = mmap.mmap(-1, STRIDE * size)
        self.names = bytearray(NAME_SLOT * size)
        self.data_vectors = bytearray(ctypes.sizeof(_IoVec) * size)
        self.answer_vectors = bytearray(ctypes.sizeof(_IoVec) * size)
        iovecs_in = (_IoVec * size).from_buffer(self.data_vectors)
        iovecs_out = (_IoVec * size).from_buffer(self.answer_vectors)
        data, answers, names = _address_of(self.data), _address_of(self.answers), _address_of(self.names)
        received = (_MMsgHdr * size).from_buffer(self.received)
        sending = (_MMsgHdr * size).from_buffer(self.sending)
        send_name_size = 16 if family == socket.AF_INET else NAME_SLOT
        for i in range(size):
            iovecs_in[i].base, iovecs_in[i].length = data + STRIDE * i, SLOT
            iovecs_out[i].base, iovecs_out[i].length = answers + STRIDE * i, 0
            received[i].hdr.name, received[i].hdr.namelen = names + NAME_SLOT * i, NAME_SLOT
            received[i].hdr.iov, received[i].hdr.iovlen = ctypes.addressof(iovecs_in[i]), 1
            sending[i].hdr.name, sending[i].hdr.namelen = names + NAME_SLOT * i, send_name_size
            sending[i].hdr.iov, sending[i].hdr.iovlen = ctypes.addressof(iovecs_out[i]), 1
        del received, sending, iovecs_in, iovecs_out  # they would pin the bytearrays' size
        self.received_address = _address_of(self.received)
        self.sending_address = _address_of(self.sending)
        self.names_address = names
        # Word views for the loop: a received length, an answer's length, a reply's address.
        length_offset = _MMsgHdr.length.offset
        uint = ctypes.sizeof(ctypes.c_uint)
        pointer = ctypes.sizeof(ctypes.c_void_p)
        assert length_offset % uint == 0 and self.message_size % pointer == 0
        self.lengths = memoryview(self.received).cast("I")[length_offset // uint :: self.message_size // uint]
        self.reply_names = memoryview(self.sending).cast("P")[:: self.message_size // pointer]
        # size_t is unsigned long on Linux (LP64 and ILP32 alike).
        assert ctypes.sizeof(ctypes.c_ulong) == ctypes.sizeof(ctypes.c_size_t) == pointer
        self.answer_lengths = memoryview(self.answer_vectors).cast("L")[1::2]


def client_address(raw: bytes) -> str:
    """The address as ``recvfrom`` names it: from sockaddr_in's 4 bytes, or sockaddr_in6's 16 and
    its scope (``fe80::1%eth0``)."""
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    address = socket.inet_ntop(socket.AF_INET6, raw[:16])
    scope = int.from_bytes(raw[16:20], sys.byteorder)
    if scope:
        try:
            return f"{address}%{socket.if_indextoname(scope)}"
        except OSError:
            return f"{address}%{scope}"
    return address


def serve(
    sock: socket.socket,
    respond: Respond,
    stopping: threading.Event,
    report: Report,
    size: int = 32,
) -> None:
    """Answer datagrams on ``sock`` in batches until ``stopping`` is set.

    ``respond(query, client_ip)`` returns the answer or None for silence; an exception from it
    costs that one query (``report`` hears of it), never the loop.
    """
    libc = _libc()
    assert libc is not None, "mmsg.serve needs mmsg.available()"
    recvmmsg, sendmmsg = libc.recvmmsg, libc.sendmmsg
    batches = Batches(sock.family, size)
    fd = sock.fileno()
    received_vector = batches.received_address
    sending_vector, message_size = batches.sending_address, batches.message_size
    lengths, reply_names, answer_lengths = batches.lengths, batches.reply_names, batches.answer_lengths
    data, answers = memoryview(batches.data), memoryview(batches.answers)
    names, names_address = memoryview(batches.names), batches.names_address
    # Where the address lies in a sockaddr_in, or the address and scope in a sockaddr_in6.
    first, last = (4, 8) if sock.family == socket.AF_INET else (8, 28)
    client_ips: dict[bytes, str] = {}
    while True:
        count = recvmmsg(fd, received_vector, size, MSG_WAITFORONE, None)
        if stopping.is_set():
            return
        if count <= 0:
            continue  # EINTR, or a datagram gone between poll and read: nothing to do
        batch_lengths = lengths[:count].tolist()
        batch_names = bytes(names[: NAME_SLOT * count])
        replies = 0
        for i in range(count):
            start = STRIDE * i
            query = bytes(data[start : start + batch_lengths[i]])
            at = NAME_SLOT * i
            key = batch_names[at + first : at + last]
            client_ip = client_ips.get(key)
            if client_ip is None:
                if len(client_ips) >= ADDRESS_CACHE_LIMIT:
                    client_ips.clear()
                client_ip = client_ips[key] = client_address(key)
            try:
                response = respond(query, client_ip)
            except Exception as exc:  # a bug must cost one query, never the listener
                report(exc)
                continue
            if response is None:
                continue
            start = STRIDE * replies
            answers[start : start + len(response)] = response
            answer_lengths[replies] = len(response)
            reply_names[replies] = names_address + at
            replies += 1
        sent = 0
        while sent < replies:
            done = sendmmsg(fd, sending_vector + message_size * sent, replies - sent, 0)
            # A refused datagram (the client's port gone, say) is skipped, as sendto's error is.
            sent += done if done > 0 else 1
