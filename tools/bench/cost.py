#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What a packet costs, in guest instructions: xpu against veth and virtio-net, in one VM.

Runs inside the VM tools/lab/bench-cost.sh boots: QEMU's TCG with the xpu_insn plugin
(tools/bench/insn/), which counts every instruction the guest executes (whole translated
blocks: a block cut short by a fault counts whole, a small error) and tells the guest the
count when it asks: the figures are instructions, which the speed of this machine does not
change. What the guest does can still depend on the host's timing where QEMU carries the
packets (how many a poll finds): the run-to-run spread shows how much.

The VM runs under `-icount shift=0,sleep=on`: while it works, the guest's clock follows its
instructions (1 ns each), so a timer fires after the same work in every run; while it idles,
the clock follows real time, as it must for links whose packets QEMU carries on this
machine (virtio-net's socket, the PCI loop's doorbells): with sleep=off an idle guest's clock
jumps to its next timer at once, and a reply QEMU had not delivered yet came "late".
One vCPU: client and server take turns on it, as two processes on one core do.

Not the guest's own CPU accounting: on this kernel its idle time is part sampled at ticks and
part measured, and under icount it read more idle than elapsed time.

Four links, each joining two namespaces (a: the client, b: the server):
  - veth: a veth pair, the standard link between namespaces;
  - xpu: an xpu pair (pair mode);
  - xpu-pci: xpu's PCI mode on the single-VM loop (two ivshmem-doorbell functions on one
    fabric: the window in shared memory, doorbells as MSI-X interrupts through QEMU);
  - virtio: two virtio-net functions joined by a QEMU socket netdev, how two machines' NICs
    are joined in the lab (no offloads: the socket carries plain frames).
Per link, in rounds that alternate the links' order:
  - rr: a 64-byte UDP request/response, one in flight, closed loop (xpu-rr): instructions per
    transaction, and per transaction the context switches, interrupts and (xpu) doorbells and
    NAPI polls;
  - rr-light: the same at a fixed rate (each request at its time, sleeping in between; 1% of
    the xpu pair's closed-loop rate unless given): what a transaction costs when both ends
    sleep between them;
  - tcp: iperf3, one stream, MTU 1500 on every link: instructions per MB, taken as the
    difference between two transfers of different sizes so that starting iperf3 cancels out;
  - xpu only, rr-light again with the polling baseline on both ends (the busy-poll flag, as
    make bench-scale's "polling"): the CPU each mode costs at that rate, in instructions per
    second of guest time (a vCPU that never idles executes 1e9).
Plus the idle machine's background (instructions per second with nothing running), which a
light transaction's figure includes for its share of the time.

With --profile, then, per link: where the time goes, as perf samples it (`perf record -e
cpu-clock` every 20 us of guest time: every 20000 instructions while the guest works; its idle
time passes in real time and counts as default_idle; a sample lands where interrupts are next
enabled, so code that runs with them off, such as the end of a context switch, takes the
samples of what came before it).

Prints a table (medians of the rounds; xpu/veth and xpu-pci/virtio with the range of the
per-round ratios) and, last, one JSON line with every round's figures.
"""

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time

from compare import proc_events, sh, sleep_until, wait
from insn import Instructions

LINKS = ("veth", "xpu", "xpu-pci", "virtio")
RR = os.environ.get("XPU_RR", "xpu-rr")
RR_PORT, TCP_PORT = 7000, 5201
# The virtio-net functions' MACs, as tools/lab/bench-cost.sh gives them.
VIRTIO_MACS = ("52:54:00:c0:57:01", "52:54:00:c0:57:02")


def ns_sh(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def fresh_ns(*names):
    for ns in names:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def dev_by(pred):
    """The netdev in this namespace for which pred(name) holds."""
    for d in sorted(os.listdir("/sys/class/net")):
        if pred(d):
            return d
    return None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class Link:
    """Link `kind` between namespaces c-KIND-a (10.7N.0.1) and c-KIND-b (10.7N.0.2)."""

    def __init__(self, n, kind):
        self.kind = kind
        self.a, self.b = f"c-{kind}-a", f"c-{kind}-b"
        self.addr_a, self.addr_b = f"10.7{n}.0.1", f"10.7{n}.0.2"
        fresh_ns(self.a, self.b)
        if kind == "veth":
            sh("ip", "-n", self.a, "link", "add", "c0", "type", "veth", "peer", "name", "c1",
               "netns", self.b)
            self.dev_a, self.dev_b = "c0", "c1"
        elif kind == "xpu":
            ns_sh(self.a, "xpuctl", "link", "add", "c0", "--peer", "c1", "--peer-netns", self.b,
                  "--queues", "1")
            self.dev_a, self.dev_b = "c0", "c1"
        elif kind == "xpu-pci":
            role = lambda r: lambda d: read(f"/sys/class/net/{d}/phys_port_name") == r
            wait("xpu's PCI-mode netdevs", lambda: dev_by(role("host")) and dev_by(role("dpu")),
                 tries=100, step=0.1)
            self.dev_a, self.dev_b = dev_by(role("host")), dev_by(role("dpu"))
            sh("ip", "link", "set", self.dev_a, "netns", self.a)
            sh("ip", "link", "set", self.dev_b, "netns", self.b)
        else:
            mac = lambda m: lambda d: read(f"/sys/class/net/{d}/address") == m
            devs = [dev_by(mac(m)) for m in VIRTIO_MACS]
            if None in devs:
                sys.exit(f"bench: no virtio-net functions with MACs {VIRTIO_MACS}")
            self.dev_a, self.dev_b = devs
            sh("ip", "link", "set", self.dev_a, "netns", self.a)
            sh("ip", "link", "set", self.dev_b, "netns", self.b)
        for ns, dev, addr in ((self.a, self.dev_a, self.addr_a), (self.b, self.dev_b, self.addr_b)):
            # IPv6 off: no router solicitations or DAD in the measurements.
            ns_sh(ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "1500")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        wait(f"{kind}: a ping across", lambda: ns_sh(self.a, "ping", "-c1", "-W1", self.addr_b,
                                                     check=False).returncode == 0, tries=60)
        self.stats = [EthtoolStats(ns, dev) for ns, dev in
                      ((self.a, self.dev_a), (self.b, self.dev_b)) if kind.startswith("xpu")]

    def xpu_counts(self):
        """Doorbells rung and NAPI polls run, both ends (xpu only; ethtool -S's counters)."""
        out = {"doorbells": 0, "napi_polls": 0}
        for st in self.stats:
            for name, v in st.read().items():
                if m := re.fullmatch(r"(?:tx\d+_(doorbells)|rx\d+_(napi_polls))", name):
                    out[m.group(1) or m.group(2)] += v
        return out

    def set_polling(self, on):
        """The busy-poll flag on both ends: each NAPI polls in a thread of its own, never
        sleeping (the polling baseline of the elastic claim)."""
        for ns, dev in ((self.a, self.dev_a), (self.b, self.dev_b)):
            ns_sh(ns, "ethtool", "--set-priv-flags", dev, "busy-poll", "on" if on else "off")
        # A NAPI's thread starts polling when it is first scheduled: one round trip does it.
        ns_sh(self.a, "ping", "-c1", "-W1", self.addr_b, check=False)
        sh("udevadm", "settle", "--timeout=30", check=False)


class EthtoolStats:
    """`ethtool -S DEV` in namespace NS, read with the ioctl from this process: an exec of
    ethtool in the measured window would cost more instructions than the packets."""

    SIOCETHTOOL, GSSET_INFO, GSTRINGS, GSTATS, SS_STATS = 0x8946, 0x37, 0x1B, 0x1D, 1

    def __init__(self, ns, dev):
        self.dev = dev.encode()
        libc = ctypes.CDLL(None, use_errno=True)
        here = os.open("/proc/self/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            # A socket works in the namespace it was made in: make it there, come back.
            if libc.setns(there, 0x40000000) != 0:
                sys.exit(f"bench: setns {ns}: {os.strerror(ctypes.get_errno())}")
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if libc.setns(here, 0x40000000) != 0:
                sys.exit(f"bench: setns back from {ns}: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(here)
            os.close(there)
        info = self.ioctl(struct.pack("IIQI", self.GSSET_INFO, 0, 1 << self.SS_STATS, 0))
        self.n = struct.unpack_from("I", info, 16)[0]
        names = self.ioctl(struct.pack("III", self.GSTRINGS, self.SS_STATS, self.n)
                           + bytes(32 * self.n))[12:]
        self.names = [names[32 * i:32 * (i + 1)].split(b"\0")[0].decode() for i in range(self.n)]

    def ioctl(self, req):
        buf = ctypes.create_string_buffer(req, len(req))
        ifreq = struct.pack("16sP", self.dev, ctypes.addressof(buf)) + bytes(16)
        fcntl.ioctl(self.sock.fileno(), self.SIOCETHTOOL, ifreq)
        return buf.raw

    def read(self):
        raw = self.ioctl(struct.pack("II", self.GSTATS, self.n) + bytes(8 * self.n))
        # The kernel gives no values if the count changed meanwhile (a link reset).
        if struct.unpack_from("I", raw, 4)[0] != self.n:
            sys.exit(f"bench: ethtool -S {self.dev.decode()}: the counters changed")
        return dict(zip(self.names, struct.unpack_from(f"{self.n}Q", raw, 8)))


INSNS = None


class Window:
    """What the guest did between start() and stop(): instructions (the plugin's count, of
    everything the guest ran), context switches and interrupts, the link's xpu counters, and
    the guest time it lasted. What reading them costs is left out of the window: the counters
    are read before the first marker and after the second, the counts after both."""

    def __init__(self, link=None):
        self.link = link

    def start(self):
        self.x0 = self.link.xpu_counts() if self.link else {}
        self.p0 = proc_events()
        self.t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        self.n0 = INSNS.mark_now()

    def stop(self):
        n1 = INSNS.mark_now()
        t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
        p1 = proc_events()
        x1 = self.link.xpu_counts() if self.link else {}
        d = {**delta(self.p0, p1), **delta(self.x0, x1)}
        d["insn"] = INSNS.count(n1) - INSNS.count(self.n0)
        d["seconds"] = t1 - self.t0
        return d


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


@contextlib.contextmanager
def rr_server(link):
    """xpu-rr's server on the link's server side, listening, for the `with` block."""
    srv = subprocess.Popen(["ip", "netns", "exec", link.b, RR, "server", "--bind",
                            f"0.0.0.0:{RR_PORT}"], stderr=subprocess.PIPE, text=True)
    try:
        wait(f"{link.kind}: the xpu-rr server", lambda: f":{RR_PORT:04X}" in (
            read(f"/proc/{srv.pid}/net/udp") or ""), tries=200, step=0.05)
        yield
    finally:
        srv.terminate()
        srv.wait(timeout=30)


@contextlib.contextmanager
def iperf_server(link):
    """iperf3's server on the link's server side, for one test, listening; the `with` block
    runs the client, after which the server exits by itself."""
    srv = subprocess.Popen(["ip", "netns", "exec", link.b, "iperf3", "-s", "-1", "-p",
                            str(TCP_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # iperf3 listens on a dual-stack socket: tcp6.
        wait(f"{link.kind}: the iperf3 server", lambda: f":{TCP_PORT:04X}" in (
            read(f"/proc/{srv.pid}/net/tcp6") or ""), tries=200, step=0.05)
        yield
        srv.wait(timeout=60)
    finally:
        srv.kill()


def rr(link, seconds, rate):
    """One request/response measurement: per transaction, instructions and events.

    The client warms up until a common start, so the window holds the load alone. Starting
    it takes a guest time that depends on the host (its binary comes over the root's 9p). A
    client that starts too late refuses to run; it is started again with twice the lead.
    """
    with rr_server(link):
        lead = 2.0
        while (out := rr_window(link, seconds, rate, lead)) is None:
            lead *= 2
            if lead > 200:
                sys.exit(f"bench: {link.kind}: the xpu-rr client is still late with {lead / 2} s")
    return out


def rr_window(link, seconds, rate, lead):
    start_at = time.time() + lead
    cmd = ["ip", "netns", "exec", link.a, RR, "client", "--connect", f"{link.addr_b}:{RR_PORT}",
           "--seconds", str(seconds), "--start-at", f"{start_at:.6f}", "--timeout-ms", "1000"]
    if rate:
        cmd += ["--rate", str(rate)]
    cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    win = Window(link)
    sleep_until(start_at)
    win.start()
    sleep_until(start_at + seconds)
    d = win.stop()
    res, err = cli.communicate(timeout=seconds + 120)
    if cli.returncode != 0:
        if "--start-at" in err and " ago " in err:
            return None
        sys.exit(f"bench: {link.kind}: xpu-rr client: {err.strip()[-500:]}")
    r = json.loads(res)
    n = r["requests"] - r["lost"]
    if n <= 0:
        sys.exit(f"bench: {link.kind}: no transaction completed: {res}")
    return {"insn": d["insn"] / n, "ctxt": d["ctxt"] / n, "intr": d["intr"] / n,
            "doorbells": d.get("doorbells", 0) / n, "napi_polls": d.get("napi_polls", 0) / n,
            "tps": n / seconds, "lost": r["lost"], "missed": r["missed"],
            "insn_per_s": d["insn"] / d["seconds"]}


def tcp_insns(link, nbytes):
    """Instructions and bytes received for one iperf3 transfer of `nbytes`, processes included."""
    with iperf_server(link):
        win = Window()
        win.start()
        out = ns_sh(link.a, "iperf3", "-c", link.addr_b, "-p", str(TCP_PORT), "-n",
                    str(nbytes), "-J").stdout
        d = win.stop()
    got = json.loads(out)["end"]["sum_received"]["bytes"]
    return d["insn"], got


def tcp(link, small, big):
    """Instructions per MB received: the difference between a big and a small transfer, so
    what starting and stopping iperf3 costs cancels out."""
    b1, n1 = tcp_insns(link, small)
    b2, n2 = tcp_insns(link, big)
    return {"insn_per_mb": (b2 - b1) / ((n2 - n1) / 1e6)}


def profile(link, seconds, tcp_bytes, top):
    """perf's top functions for the closed-loop request/response and for a TCP transfer."""
    with rr_server(link):
        perf_top(f"{link.kind}, 64 B request/response, closed loop", top,
                 "ip", "netns", "exec", link.a, RR, "client", "--connect",
                 f"{link.addr_b}:{RR_PORT}", "--seconds", str(seconds))
    with iperf_server(link):
        perf_top(f"{link.kind}, TCP MTU 1500, {tcp_bytes // 1_000_000} MB", top,
                 "ip", "netns", "exec", link.a, "iperf3", "-c", link.addr_b, "-p", str(TCP_PORT),
                 "-n", str(tcp_bytes))


def perf_top(title, top, *cmd):
    data = "/tmp/xpu-cost.perf"
    sh("perf", "record", "-q", "-a", "-e", "cpu-clock", "-c", "20000", "-o", data, "--", *cmd)
    rep = sh("perf", "report", "-q", "-i", data, "--stdio", "--sort", "sym").stdout
    print(f"profile: {title} (share of the samples, one per 20 us of guest time)")
    lines = [line for line in rep.splitlines() if line.strip()]
    for line in lines[:top]:
        # Rust's symbols stay mangled here: tools/lab/bench-cost.sh demangles them (rustfilt).
        print("  " + line.strip())


def background(seconds):
    win = Window()
    win.start()
    time.sleep(seconds)
    d = win.stop()
    return {"insn_per_s": d["insn"] / d["seconds"]}


# (key, label, unit, scale) of the table's rows, from the figures of one link and round.
ROWS = (
    ("rr.insn", "64 B request/response, closed loop", "insn", 1),
    ("rr.ctxt", "  context switches", "/trans", 1),
    ("rr.intr", "  interrupts", "/trans", 1),
    ("rr.doorbells", "  doorbells (xpu)", "/trans", 1),
    ("rr.napi_polls", "  NAPI polls (xpu)", "/trans", 1),
    ("rr-light.insn", "64 B request/response, fixed rate", "insn", 1),
    ("rr-light.ctxt", "  context switches", "/trans", 1),
    ("rr-light.intr", "  interrupts", "/trans", 1),
    ("tcp.insn_per_mb", "TCP MTU 1500, 1 stream", "insn/MB", 1),
)
PAIRS = (("xpu", "veth"), ("xpu-pci", "virtio"))


def field(fig, key):
    what, name = key.split(".")
    return fig[what][name]


def report(runs, rate, clock_note):
    """The table: medians per link, and the ratios of medians with the per-round range."""
    print(clock_note)
    head = f"{'measure':38} {'unit':8}" + "".join(f"{k:>11}" for k in LINKS)
    head += "".join(f"{a + '/' + b:>22}" for a, b in PAIRS)
    print(head)
    for key, label, unit, scale in ROWS:
        med = {k: statistics.median(field(r[k], key) for r in runs) * scale for k in LINKS}
        line = f"{label:38} {unit:8}" + "".join(f"{med[k]:11.4g}" for k in LINKS)
        for a, b in PAIRS:
            per = [field(r[a], key) / field(r[b], key) for r in runs if field(r[b], key)]
            if med[b] and per:
                line += f"{med[a] / med[b]:8.3f} ({min(per):.3f}..{max(per):.3f})"
            else:
                line += f"{'-':>22}"
        print(line)
    bg = statistics.median(r["background"]["insn_per_s"] for r in runs)
    print(f"idle machine: {bg:.4g} insn/s, so {bg / rate:.4g} of each fixed-rate transaction's "
          f"instructions at {rate} requests/s")
    # The CPU the xpu pair costs at the fixed rate, elastic and polling: instructions per
    # second of guest time, of which a vCPU that never idles executes 1e9 (1 ns each). The
    # polling baseline's two threads (one per end) keep the one vCPU busy whatever the load,
    # so its figure is the vCPU's whole rate: with a core per poller it would be two cores.
    el = [r["xpu"]["rr-light"]["insn_per_s"] for r in runs]
    po = [r["xpu"]["rr-light-polling"]["insn_per_s"] for r in runs]
    missed = max(r["xpu"]["rr-light-polling"]["missed"] for r in runs)
    per = [p / e for p, e in zip(po, el)]
    print(f"xpu pair at {rate} requests/s: elastic {statistics.median(el):.4g} insn/s, polling "
          f"{statistics.median(po):.4g} (its vCPU never idles; up to {missed} requests late): "
          f"polling/elastic {statistics.median(po) / statistics.median(el):.1f} "
          f"({min(per):.1f}..{max(per):.1f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="guest seconds per rr window")
    ap.add_argument("--light", type=float, default=0.01,
                    help="the fixed rate, as a fraction of the xpu pair's closed-loop rate")
    ap.add_argument("--rate", type=float,
                    help="the fixed rate in requests/s of guest time, instead of --light")
    ap.add_argument("--tcp-mb", type=int, default=64, help="MB of the big TCP transfer")
    ap.add_argument("--profile", type=int, nargs="?", const=25, default=0, metavar="TOP",
                    help="then perf's TOP functions per link (25 unless given)")
    args = ap.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.tcp_mb < 1:
        sys.exit("bench: --rounds and --tcp-mb take at least 1, --seconds more than 0")
    if not 0 < args.light <= 1 or (args.rate is not None and args.rate * args.seconds < 1):
        sys.exit("bench: --light takes a fraction in (0, 1]; --rate, at least one request "
                 "in --seconds")
    if os.cpu_count() != 1:
        sys.exit("bench: needs exactly one vCPU (tools/lab/bench-cost.sh)")

    global INSNS
    INSNS = Instructions(os.environ["XPU_INSN_DIR"])
    sh("modprobe", "xpu")
    links = {k: Link(n, k) for n, k in enumerate(LINKS)}
    sh("udevadm", "settle", "--timeout=30", check=False)
    if args.rate is None:
        # A share of one flow's saturated rate, as make bench-scale's light load (there in
        # wall-clock time, here in guest time: the rate this machine's instructions allow).
        args.rate = max(round(args.light * rr(links["xpu"], args.seconds, None)["tps"], 1),
                        1 / args.seconds)
    print(f"fixed rate: {args.rate} requests/s", flush=True)
    runs = []
    for r in range(args.rounds):
        fig = {"background": background(args.seconds)}
        order = list(links.values())
        for link in order if r % 2 == 0 else reversed(order):
            fig[link.kind] = {
                "rr": rr(link, args.seconds, None),
                "rr-light": rr(link, args.seconds, args.rate),
                "tcp": tcp(link, args.tcp_mb * 1_000_000 // 8, args.tcp_mb * 1_000_000),
            }
            if link.kind == "xpu":
                # The polling baseline over the same rings (make bench-scale's "polling").
                link.set_polling(True)
                fig["xpu"]["rr-light-polling"] = rr(link, args.seconds, args.rate)
                link.set_polling(False)
        runs.append(fig)
        print(f"round {r + 1}: " + ", ".join(
            f"{k} {fig[k]['rr']['insn']:.0f}/{fig[k]['rr-light']['insn']:.0f} insn per "
            f"transaction, {fig[k]['tcp']['insn_per_mb']:.4g} per MB" for k in LINKS),
            flush=True)
    report(runs, args.rate, "instructions: counted by the xpu_insn plugin; one vCPU")
    if args.profile:
        sh("sysctl", "-qw", "kernel.kptr_restrict=0", "kernel.perf_event_paranoid=-1")
        for link in links.values():
            profile(link, args.seconds, args.tcp_mb * 1_000_000, args.profile)
    print(json.dumps({"rounds": runs, "rate": args.rate, "light": args.light,
                      "seconds": args.seconds}))


if __name__ == "__main__":
    main()
