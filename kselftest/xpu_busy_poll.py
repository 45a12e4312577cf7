#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A UDP request/response over a link, each side waiting the way a busy-polling application
does, so that a test can see the kernel's busy polling run the link's NAPI.

  xpu_busy_poll.py server ADDR PORT COUNT MODE
  xpu_busy_poll.py client ADDR PORT COUNT MODE

MODE is how a socket waits for its next datagram:
  block  a blocking recv, no busy polling (the baseline)
  sock   SO_BUSY_POLL on the socket: recv spins on the device's NAPI (sk_busy_loop)
  epoll  epoll_wait with EPIOCSPARAMS (busy_poll_usecs, prefer_busy_poll): the epoll loop
         spins on the NAPI of the sockets it watches (ep_busy_loop)

The client sends COUNT requests of 64 bytes, one at a time; the server echoes COUNT of them,
then prints the NAPI id its socket saw last (SO_INCOMING_NAPI_ID: 0 if none reached it).
Either exits non-zero with a message if an answer does not come within 5 s.
"""

import fcntl
import select
import socket
import struct
import sys
import time

SO_BUSY_POLL = 46
SO_INCOMING_NAPI_ID = 56
# _IOW(0x8A, 0x01, struct epoll_params): u32 busy_poll_usecs, u16 busy_poll_budget,
# u8 prefer_busy_poll, u8 pad.
EPIOCSPARAMS = 0x40088A01
# Long enough to outlast the other side's turn on a one-CPU machine: the loop yields the CPU
# when the scheduler asks (need_resched) and spins again after.
BUSY_USECS = 50000


def waiter(sock, mode):
    """A function that returns when `sock` has a datagram, or raises TimeoutError."""
    if mode == "sock":
        sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL, BUSY_USECS)
    if mode != "epoll":
        # A blocking socket with a receive timeout: recv busy-polls before it sleeps. (Python's
        # settimeout would wait in poll(2), which busy-polls only by net.core.busy_poll.)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
        return lambda: None
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    fcntl.ioctl(ep.fileno(), EPIOCSPARAMS, struct.pack("IHBB", BUSY_USECS, 64, 1, 0))
    sock.setblocking(False)

    def wait():
        if not ep.poll(5):
            raise TimeoutError
    return wait


def main():
    role, addr, port, count, mode = sys.argv[1:6]
    count = int(count)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    wait = waiter(s, mode)
    try:
        if role == "server":
            s.bind((addr, int(port)))
            print("ready", flush=True)
            for _ in range(count):
                wait()
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
            napi = s.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)
            print(f"napi-id {napi}", flush=True)
        else:
            s.connect((addr, int(port)))
            start = time.monotonic()
            for i in range(count):
                s.send(struct.pack("!I", i) + bytes(60))
                wait()
                if struct.unpack("!I", s.recv(2048)[:4])[0] != i:
                    sys.exit(f"answer {i} out of order")
            print(f"{count} round trips in {time.monotonic() - start:.2f} s")
    except (TimeoutError, BlockingIOError):
        sys.exit(f"{role}: no datagram within 5 s")


if __name__ == "__main__":
    main()
