#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send one raw RTM_NEWLINK for an xpu link and report the kernel's answer.

    xpu_nl.py NAME [TYPE=VALUE ...]

Each TYPE=VALUE becomes a u32 attribute of IFLA_INFO_DATA, whatever TYPE is, so tests can
send what no well-behaved tool sends (unknown attribute types, out-of-range values). Prints
"ok", or "EINVAL: <extack message>"; exits 0 only if the kernel accepted the request.
"""

import errno
import os
import socket
import struct
import sys

NETLINK_EXT_ACK, NETLINK_CAP_ACK, SOL_NETLINK = 11, 10, 270
RTM_NEWLINK, NLMSG_ERROR = 16, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_ACK_TLVS = 0x200
IFLA_IFNAME, IFLA_LINKINFO = 3, 18
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
NLMSGERR_ATTR_MSG = 1


def attr(kind, payload):
    data = struct.pack("HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    name = sys.argv[1].encode() + b"\0"
    data = b""
    for arg in sys.argv[2:]:
        t, v = arg.split("=")
        data += attr(int(t), struct.pack("I", int(v)))
    linkinfo = attr(IFLA_INFO_KIND, b"xpu\0") + attr(IFLA_INFO_DATA | 0x8000, data)
    body = struct.pack("BxHiII", 0, 0, 0, 0, 0) + attr(IFLA_IFNAME, name) + \
        attr(IFLA_LINKINFO | 0x8000, linkinfo)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    msg = struct.pack("IHHII", 16 + len(body), RTM_NEWLINK, flags, 1, 0) + body

    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    s.send(msg)
    reply = s.recv(65536)
    _, typ, rflags, _, _ = struct.unpack_from("IHHII", reply)
    if typ != NLMSG_ERROR:
        sys.exit(f"unexpected reply type {typ}")
    (err,) = struct.unpack_from("i", reply, 16)
    if err == 0:
        print("ok")
        return
    text = ""
    if rflags & NLM_F_ACK_TLVS:
        off = 16 + 4 + 16  # nlmsghdr, error, the (capped) request header
        while off + 4 <= len(reply):
            alen, atype = struct.unpack_from("HH", reply, off)
            if alen < 4:
                break
            if atype == NLMSGERR_ATTR_MSG:
                text = reply[off + 4:off + alen].split(b"\0")[0].decode()
            off += (alen + 3) & ~3
    print(f"{errno.errorcode.get(-err, str(-err))}: {text}")
    sys.exit(1)


if __name__ == "__main__":
    main()
