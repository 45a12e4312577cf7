#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send N malformed requests to the xpu generic-netlink family and check each is answered.

    xpu_genl_fuzz.py N [SEED]

Every request is a well-framed netlink message (so the kernel owes an answer) carrying random
commands, flags and attributes: unknown types, wrong sizes, strings without NUL or too long,
nested bits, truncated attribute headers, oversized payloads. Prints the count of answers by
errno; exits 1 if any request went unanswered or an answer was not an error or an ack.
"""

import errno
import os
import random
import socket
import struct
import sys

NETLINK_GENERIC, GENL_ID_CTRL = 16, 0x10
CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 3, 1, 2
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NETLINK_EXT_ACK, SOL_NETLINK = 11, 270


def attr(kind, payload, declared=None):
    n = 4 + len(payload) if declared is None else declared
    data = struct.pack("HH", n & 0xFFFF, kind & 0xFFFF) + payload
    return data + b"\0" * (-len(data) % 4)


def message(family, seq, cmd, flags, body):
    genl = struct.pack("BBH", cmd, 1, 0)
    return struct.pack("IHHII", 16 + len(genl) + len(body), family, flags, seq, 0) + genl + body


def attrs_of(buf):
    out = {}
    while len(buf) >= 4:
        n, kind = struct.unpack_from("HH", buf)
        if n < 4:
            break
        out[kind & 0x3FFF] = buf[4:n]
        buf = buf[(n + 3) & ~3:]
    return out


def resolve(sock):
    body = attr(CTRL_ATTR_FAMILY_NAME, b"xpu\0")
    sock.send(message(GENL_ID_CTRL, 1, CTRL_CMD_GETFAMILY, NLM_F_REQUEST, body))
    data = sock.recv(65536)
    _, kind = struct.unpack_from("IH", data)
    if kind == NLMSG_ERROR:
        sys.exit("the xpu family is not registered")
    return struct.unpack("H", attrs_of(data[20:])[CTRL_ATTR_FAMILY_ID][:2])[0]


def random_payload(rng):
    pick = rng.randrange(10)
    if pick == 0:
        return b""
    if pick == 1:
        return rng.randbytes(rng.choice([1, 2, 3, 5, 6, 7]))      # wrong integer sizes
    if pick == 2:
        return rng.randbytes(rng.randrange(32, 300)).replace(b"\0", b"A")  # long, no NUL
    if pick == 3:
        return b"web\0"
    if pick == 4:
        return struct.pack("H", rng.randrange(65536))
    if pick == 5:
        return struct.pack("I", rng.randrange(1 << 32))
    if pick == 6:
        return rng.randbytes(rng.randrange(1, 4000))                # oversized
    if pick == 7:
        return struct.pack("I", rng.choice([0, 1, 2, 3, 0xFFFFFFFF]))
    if pick == 8:
        return bytes([10, 77, 0, 5])
    return rng.randbytes(rng.randrange(1, 16))


def random_body(rng):
    body = b""
    for _ in range(rng.randrange(0, 7)):
        kind = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 100, 0x3FFF])
        if rng.random() < 0.1:
            kind |= 0x8000                                         # NLA_F_NESTED
        payload = random_payload(rng)
        r = rng.random()
        if r < 0.05:
            body += struct.pack("HH", 2, kind)                      # length below a header
        elif r < 0.1:
            body += attr(kind, payload, declared=4 + len(payload) + rng.randrange(1, 64))
        else:
            body += attr(kind, payload)
    if rng.random() < 0.05:
        body += b"\x07\x00"                                         # trailing garbage
    return body


def main():
    count = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    sock.settimeout(5)
    family = resolve(sock)
    answers, bad = {}, []
    for seq in range(2, count + 2):
        cmd = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200])
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if rng.random() < 0.2 else 0)
        sock.send(message(family, seq, cmd, flags, random_body(rng)))
        # Answers: data messages (do replies, dump parts), then one error/ack or DONE.
        while True:
            try:
                data = sock.recv(1 << 17)
            except socket.timeout:
                bad.append(f"seq {seq} (cmd {cmd}): no answer")
                break
            off, done = 0, False
            while off + 16 <= len(data):
                n, kind, _, rseq, _ = struct.unpack_from("IHHII", data, off)
                if rseq == seq and kind in (NLMSG_ERROR, NLMSG_DONE):
                    code = struct.unpack_from("i", data, off + 16)[0] if n >= 20 else 0
                    name = "ok" if code == 0 else errno.errorcode.get(-code, str(code))
                    answers[name] = answers.get(name, 0) + 1
                    done = True
                off += max((n + 3) & ~3, 16)
            if done:
                break
    print(f"seed {seed}: {count} requests, answers: " +
          ", ".join(f"{k} {v}" for k, v in sorted(answers.items())))
    if bad:
        print("\n".join(bad[:20]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
