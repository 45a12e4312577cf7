#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""xpu pair mode against a veth pair, in the same VM and the same run.

Runs inside the test VM as root (tools/lab/bench.sh boots it). Each pair joins two network
namespaces with the same addresses. Measurements alternate between veth and xpu, each round
in the other order, so drift in a noisy (TCG) machine hits both alike, and only ratios are
reported. Clients run on CPU 0 and servers on CPU 1 for both pairs, so that where the scheduler
happens to put them does not decide the comparison.

  - iperf3 TCP throughput at MTU 1500 and 65535, 1 and 4 streams (median of the rounds);
  - CPU time per GB moved during those runs (all CPUs: elapsed time less idle, /proc/stat);
  - request/response latency: sockperf UDP ping-pong, p50 and p99 (median of the rounds), with
    both ends on one CPU and on two.

Prints a table (with the range of the per-round ratios, to show the noise) and, last, one JSON
line with every figure.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from compare import alternating, print_table, summarize

ADDR_A, ADDR_B = "10.77.0.1", "10.77.0.2"


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kw)


def ns_exec(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


CLIENT_CPU, SERVER_CPU = "0", "1"


def on_cpu(cpu, ns, *args):
    """The command line running `args` in netns `ns`, pinned to `cpu`."""
    return ["ip", "netns", "exec", ns, "taskset", "-c", cpu, *args]


def setup(kind):
    """Two namespaces {kind}-a and {kind}-b joined by a pair of `kind` (veth or xpu)."""
    a, b = f"bench-{kind}-a", f"bench-{kind}-b"
    for ns in (a, b):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    if kind == "veth":
        sh("ip", "-n", a, "link", "add", "p0", "type", "veth", "peer", "name", "p1", "netns", b)
    else:
        ns_exec(a, "xpuctl", "link", "add", "p0", "--peer", "p1", "--peer-netns", b)
    sh("ip", "-n", a, "addr", "add", f"{ADDR_A}/24", "dev", "p0")
    sh("ip", "-n", b, "addr", "add", f"{ADDR_B}/24", "dev", "p1")
    sh("ip", "-n", a, "link", "set", "p0", "up")
    sh("ip", "-n", b, "link", "set", "p1", "up")
    for _ in range(50):
        if ns_exec(a, "ping", "-q", "-c", "1", "-W", "1", ADDR_B, check=False).returncode == 0:
            return a, b
        time.sleep(0.2)
    sys.exit(f"bench: no connectivity over {kind}")


def set_mtu(pair, mtu):
    a, b = pair
    sh("ip", "-n", a, "link", "set", "p0", "mtu", str(mtu))
    sh("ip", "-n", b, "link", "set", "p1", "mtu", str(mtu))


def cpu_busy_seconds():
    """A counter of CPU time spent busy, all CPUs: elapsed time times the CPUs, less idle.

    The kernel (NO_HZ) measures idle time exactly, at every entry and exit, where user and
    system time are samples taken at each tick. Under icount neither repeats yet from run to
    run (the README's "Figures that repeat").
    """
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = (v[3] + v[4]) / os.sysconf("SC_CLK_TCK")
    return time.clock_gettime(time.CLOCK_BOOTTIME) * os.cpu_count() - idle


def wait_listen(ns, port):
    for _ in range(50):
        if f":{port} " in ns_exec(ns, "ss", "-ltnu").stdout:
            return
        time.sleep(0.1)
    sys.exit(f"bench: nothing listens on {port} in {ns}")


def iperf(pair, streams, seconds):
    """Returns (bits/s received, CPU seconds per GB)."""
    a, b = pair
    srv = subprocess.Popen(on_cpu(SERVER_CPU, b, "iperf3", "-s", "-1", "-p", "5201"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listen(b, 5201)
        cpu0 = cpu_busy_seconds()
        out = sh(*on_cpu(CLIENT_CPU, a, "iperf3", "-c", ADDR_B, "-p", "5201",
                         "-t", str(seconds), "-P", str(streams), "-J")).stdout
        cpu = cpu_busy_seconds() - cpu0
    finally:
        srv.wait(timeout=30)
    end = json.loads(out)["end"]["sum_received"]
    return end["bits_per_second"], cpu / (end["bytes"] / 1e9)


def sockperf(pair, seconds, client_cpu, server_cpu):
    """Returns (p50, p99) round-trip latency in microseconds."""
    a, b = pair
    srv = subprocess.Popen(on_cpu(server_cpu, b, "sockperf", "sr", "-i", ADDR_B, "-p", "11111"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listen(b, 11111)
        out = sh(*on_cpu(client_cpu, a, "sockperf", "pp", "-i", ADDR_B, "-p", "11111",
                         "-t", str(seconds), "-m", "64")).stdout
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    pct = {m.group(1): float(m.group(2)) for m in
           re.finditer(r"percentile\s+([\d.]+)\s*=\s*([\d.]+)", out)}
    # sockperf reports half the round trip; the ratio does not care.
    return pct["50.000"], pct["99.000"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short rounds: on TCG the noise comes in spells of seconds, and a median over
    # more rounds sees fewer of them.
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=int, default=3)
    # tools/lab/bench.sh --icount: the guest's clock counts instructions (say so in the table).
    ap.add_argument("--clock", choices=("wall", "icount"), default="wall")
    args = ap.parse_args()
    if os.cpu_count() < 2:
        sys.exit("bench: needs 2 CPUs (client and server each on its own)")

    sh("modprobe", "xpu")
    pairs = {k: setup(k) for k in ("veth", "xpu")}
    results = {}
    rows = []

    for mtu in (1500, 65535):
        for p in pairs.values():
            set_mtu(p, mtu)
        for streams in (1, 4):
            runs = alternating(pairs, args.rounds,
                               lambda p, s=streams: iperf(p, s, args.seconds))
            key = f"tcp_mtu{mtu}_p{streams}"
            summarize(results, rows, f"{key}_gbps", f"TCP MTU {mtu}, {streams} stream(s)",
                      "Gbit/s", runs, 0, 1e-9, base="veth")
            summarize(results, rows, f"{key}_cpu_s_per_gb", "  CPU per GB", "CPU s/GB", runs, 1,
                      base="veth")

    for p in pairs.values():
        set_mtu(p, 1500)
    # Both ends on one CPU: the cost of the path itself. Across CPUs: what a real pair of
    # processes sees, dominated under TCG by waking the other (idle, emulated) CPU.
    for where, cpus in (("same_cpu", (SERVER_CPU, SERVER_CPU)),
                        ("cross_cpu", (CLIENT_CPU, SERVER_CPU))):
        lat = alternating(pairs, args.rounds, lambda p, c=cpus: sockperf(p, args.seconds, *c))
        for i, name in ((0, "p50"), (1, "p99")):
            summarize(results, rows, f"latency_{where}_{name}_us",
                      f"UDP ping-pong {name}, {where.replace('_', ' ')}", "us", lat, i,
                      base="veth")

    if args.clock == "icount":
        print("clock: icount (guest time: seconds and CPU time count instructions executed)")
    print_table(rows, base="veth")
    results["icount"] = 1.0 if args.clock == "icount" else 0.0
    print(json.dumps({k: round(v, 4) for k, v in results.items()}))


if __name__ == "__main__":
    main()
