#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The three programs of kselftest/xpu_node.sh: a sidecar-like proxy, a TCP service, a client.

  xpu_sidecar.py proxy  --family 4|6 --port P --log FILE [--uid U] [--bind-src A] [--transparent]
  xpu_sidecar.py server --family 4|6 --port P --log FILE
  xpu_sidecar.py client --dst A --port P [--mark M] [--uid U]

The proxy does what Envoy's original_dst listener filter and ORIGINAL_DST cluster do with a
connection the interception rules sent it: it asks the kernel for the original destination
(SO_ORIGINAL_DST, or IP6T_SO_ORIGINAL_DST for IPv6; with --transparent, a TPROXY listener, the
accepted socket's own address is the original destination), logs it with the peer's address as
one JSON line per connection, connects to that destination (from --bind-src, as Istio's inbound
passthrough binds 127.0.0.6) and relays one line each way. It runs as --uid (1337, the
sidecar's UID that the rules exempt) once its listener is open; should the exemption be missing,
its upstream connection comes back to it, and it refuses to go on after a few such rounds
rather than loop until the machine runs out of sockets.

The server answers each connection with the peer and local addresses it sees; the client sends
one line and prints the answer.
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h) is 80 too
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75
MAX_CONNS = 8  # a proxy that accepts more than this is looping on its own traffic


def fmt(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def original_dst(conn, family):
    """The pre-NAT destination conntrack recorded for conn (the reply tuple looked up)."""
    if family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, = struct.unpack_from("!H", raw, 2)
        return fmt((str(ipaddress.IPv4Address(raw[4:8])), port))
    raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
    port, = struct.unpack_from("!H", raw, 2)
    return fmt((str(ipaddress.IPv6Address(raw[8:24])), port))


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def listener(family, port, transparent=False):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        # one listener per family, so the IPv4 one can share the port
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if transparent:
        # accept connections to addresses that are not local (TPROXY); needs CAP_NET_ADMIN
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        else:
            s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    s.listen(16)
    return s


def log_line(path, lock, rec):
    with lock, open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def drop_privileges(uid):
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def proxy(args):
    family = socket.AF_INET6 if args.family == 6 else socket.AF_INET
    lsock = listener(family, args.port, args.transparent)
    drop_privileges(args.uid)
    lock = threading.Lock()
    log_lock = threading.Lock()
    count = [0]

    def handle(conn):
        with conn:
            conn.settimeout(10)
            rec = {"peer": fmt(conn.getpeername()), "local": fmt(conn.getsockname())}
            try:
                rec["orig"] = original_dst(conn, family)
            except OSError as e:
                rec["orig_error"] = e.strerror
            with lock:
                count[0] += 1
                rec["n"] = count[0]
            log_line(args.log, log_lock, rec)
            if rec["n"] > MAX_CONNS:
                return  # looping: stop here
            # After TPROXY the packet was not rewritten: the local address is the destination.
            dst = rec["local"] if args.transparent else rec.get("orig")
            line = conn.makefile("rb").readline().decode().strip()
            if args.no_upstream or dst is None:
                conn.sendall(f"proxy orig={dst} upstream=none\n".encode())
                return
            try:
                host, port = split(dst)
                up = socket.socket(family, socket.SOCK_STREAM)
                up.settimeout(10)
                if args.bind_src:
                    up.bind((args.bind_src, 0))
                up.connect((host, port))
                with up:
                    up.sendall((line + "\n").encode())
                    reply = up.makefile("rb").readline().decode().strip()
            except OSError as e:
                reply = f"error {e}"
            conn.sendall(f"proxy orig={dst} upstream={reply}\n".encode())

    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def server(args):
    family = socket.AF_INET6 if args.family == 6 else socket.AF_INET
    lsock = listener(family, args.port)
    lock = threading.Lock()
    while True:
        conn, _ = lsock.accept()
        with conn:
            conn.settimeout(10)
            rec = {"peer": fmt(conn.getpeername()), "local": fmt(conn.getsockname())}
            log_line(args.log, lock, rec)
            try:
                conn.makefile("rb").readline()
                conn.sendall(f"server peer={rec['peer']} local={rec['local']}\n".encode())
            except OSError:
                pass


def client(args):
    family = socket.AF_INET6 if ":" in args.dst else socket.AF_INET
    # A socket's owner (what -m owner and meta skuid match) is fixed when it is made.
    drop_privileges(args.uid)
    s = socket.socket(family, socket.SOCK_STREAM)
    if args.mark is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, args.mark)  # needs CAP_NET_ADMIN
    s.settimeout(15)
    s.connect((args.dst, args.port))
    print(f"client local={fmt(s.getsockname())}")
    s.sendall(b"hello\n")
    print(s.makefile("rb").readline().decode().strip())


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--family", type=int, choices=(4, 6), default=4)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--uid", type=int)
    p.add_argument("--bind-src")
    p.add_argument("--transparent", action="store_true")
    p.add_argument("--no-upstream", action="store_true")
    p = sub.add_parser("server")
    p.add_argument("--family", type=int, choices=(4, 6), default=4)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p = sub.add_parser("client")
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mark", type=int)
    p.add_argument("--uid", type=int)
    args = ap.parse_args()
    try:
        {"proxy": proxy, "server": server, "client": client}[args.cmd](args)
    except OSError as e:
        print(f"{args.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
