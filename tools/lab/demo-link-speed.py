#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The demo's link figures: ping and iperf3 from the host VM to the DPU VM over xpu and over
virtio-net between the same two VMs, side by side.

Runs in the demo's host VM (tools/lab/demo.sh); the DPU VM serves iperf3 on both links. Not a
benchmark (`make bench-link` is one): each link gets a warm-up, then two short rounds in
alternating order (xpu first, then virtio-net first), so that a slow moment of the emulator
hits both links alike; the table shows the better round of each, and the ratio line the two.

  demo-link-speed.py XPU_PEER VIRTIO_PEER
"""

import json
import re
import subprocess
import sys
import time

PING_COUNT = 20
IPERF_SECONDS = 4


def run(*args):
    return subprocess.run(args, text=True, capture_output=True)


def reachable(addr):
    for _ in range(300):
        if run("ping", "-q", "-c", "1", "-W", "1", addr).returncode == 0:
            return
        time.sleep(0.2)
    sys.exit(f"demo: {addr} does not answer pings")


def ping_avg_ms(addr):
    """The mean round trip of PING_COUNT pings, in milliseconds."""
    r = run("ping", "-q", "-c", str(PING_COUNT), "-i", "0.1", addr)
    m = re.search(r"= [\d.]+/([\d.]+)/", r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"demo: ping {addr} failed: {r.stdout[-300:]}{r.stderr[-300:]}")
    return float(m.group(1))


def iperf_mbps(addr, seconds):
    """TCP throughput to `addr` as the receiver counted it, in Mbit/s."""
    for _ in range(20):
        r = run("iperf3", "-c", addr, "-t", str(seconds), "-J")
        if r.returncode == 0:
            return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
        time.sleep(1)  # the server may not be up yet, or still closing the last test
    sys.exit(f"demo: iperf3 to {addr} failed: {r.stdout[-300:]}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: demo-link-speed.py XPU_PEER VIRTIO_PEER")
    links = {"xpu": sys.argv[1], "virtio-net": sys.argv[2]}
    for addr in links.values():
        reachable(addr)
        iperf_mbps(addr, 1)  # warm-up: ARP, the server's first accept, TCP's metrics cache
    best = {k: (float("inf"), 0.0) for k in links}
    for order in (list(links), list(reversed(links))):
        for k in order:
            rtt, mbps = ping_avg_ms(links[k]), iperf_mbps(links[k], IPERF_SECONDS)
            best[k] = (min(best[k][0], rtt), max(best[k][1], mbps))
    print(f"{'link':<12} {'ping, mean round trip':>22} {'iperf3 TCP host -> DPU':>24}")
    for k, (rtt, mbps) in best.items():
        print(f"{k:<12} {rtt:>19.2f} ms {mbps:>16.0f} Mbit/s")
    (xr, xm), (vr, vm) = best["xpu"], best["virtio-net"]
    print(f"{'xpu/virtio':<12} {xr / vr:>20.2f}x {xm / vm:>22.2f}x")
    print("Both VMs run on emulated CPUs (QEMU TCG, no KVM), so every figure above is the "
          "emulator's speed,\nfar below what the same kernels do on real CPUs. Both links join "
          "the same two guests: the ratio\ncompares the links (under 1x is faster for the round "
          "trip, over 1x for throughput).")


if __name__ == "__main__":
    main()
