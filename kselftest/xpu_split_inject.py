#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Play a hostile other half: write raw frames onto an xpu link, as the far end could.

    xpu_split_inject.py DEV syn PORT [SRC DST]
                                        a TCP SYN for DST:PORT from SRC:50000 (both
                                        127.0.0.1 by default; IPv6 if they are), as a steered
                                        packet (ethertype 0x88b5)
    xpu_split_inject.py DEV garbage N   N malformed port snapshots (ethertype 0x88b6):
                                        random bytes, random lengths, a good magic now and then
    xpu_split_inject.py DEV claim-all HALF POD_ADDR [POD_ADDR6]
                                        a well-formed snapshot of a new incarnation of half HALF
                                        (0 host, 1 DPU) that claims every port; the whole
                                        snapshot is longer than 1500 bytes: raise DEV's MTU
"""

import os
import random
import socket
import struct
import sys

ETH_P_XPU_LOCAL, ETH_P_XPU_SYNC = 0x88B5, 0x88B6


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(port, src="127.0.0.1", dst="127.0.0.1"):
    if ":" in dst:
        return syn6(port, socket.inet_pton(socket.AF_INET6, src),
                    socket.inet_pton(socket.AF_INET6, dst))
    src, dst = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = tcp_syn(port)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000,
                     64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def tcp_syn(port):
    return struct.pack("!HHIIBBHHH", 50000, port, random.getrandbits(32), 0, 5 << 4, 0x02,
                       65535, 0, 0)


def syn6(port, src, dst):
    tcp = tcp_syn(port)
    pseudo = src + dst + struct.pack("!I3xB", len(tcp), socket.IPPROTO_TCP)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), socket.IPPROTO_TCP, 64, src, dst)
    return ip6 + tcp


def garbage(rng):
    # AF_PACKET sends no more than the MTU (1500): a whole snapshot is longer, so every
    # length here is wrong, and the header's fields are random besides.
    n = rng.choice([0, 1, 43, 44, 45, 1500, rng.randrange(0, 1501)])
    body = bytearray(rng.randbytes(n))
    if n >= 4 and rng.random() < 0.5:
        body[0:4] = struct.pack("<I", 0x53555058)      # the magic: get past the first check
    return bytes(body)


# uapi/src/sync.rs: the snapshot's header, then a bitmap of every port.
SYNC_MAGIC, SYNC_VERSION, FLAG_SPLIT = 0x53555058, 2, 1
DEFAULT_RANGE = {0: (32768, 49151), 1: (49152, 60999)}


def claim_all(half, addr, addr6=None):
    lo, hi = DEFAULT_RANGE[half]
    a6 = socket.inet_pton(socket.AF_INET6, addr6) if addr6 else bytes(16)
    hdr = struct.pack("<IHHBBHHH4sII16s", SYNC_MAGIC, SYNC_VERSION, FLAG_SPLIT, half, 0, lo, hi,
                      0, socket.inet_aton(addr), random.getrandbits(32), 1, a6)
    assert len(hdr) == 44
    return hdr + b"\xff" * (65536 // 8)


def main():
    dev, what, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    eth = lambda proto: b"\xff" * 6 + b"\0" * 6 + struct.pack("!H", proto)
    if what == "syn":
        s.send(eth(ETH_P_XPU_LOCAL) + syn(arg, *sys.argv[4:6]))
    elif what == "claim-all":
        s.send(eth(ETH_P_XPU_SYNC) + claim_all(arg, *sys.argv[4:6]))
    elif what == "garbage":
        rng = random.Random(int.from_bytes(os.urandom(4), "little"))
        for _ in range(arg):
            s.send(eth(ETH_P_XPU_SYNC) + garbage(rng))
    else:
        sys.exit(f"unknown frame kind {what}")


if __name__ == "__main__":
    main()
