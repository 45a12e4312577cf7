#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""xpu's cross-PU link against virtio-net, between the same two VMs, in the same run.

Runs in the host VM as root (tools/lab/bench-vms.sh boots it and the DPU VM). The two VMs are
joined twice: by xpu (an ivshmem-doorbell window on the xpu fabric, 10.0.0.0/24) and by
virtio-net over QEMU's socket netdev (10.1.0.0/24); the DPU VM runs the servers
(tools/bench/link_server.sh). Measurements alternate between the two links, each round in the
other order, so drift in a noisy (TCG) machine hits both alike; only ratios are reported.

  - iperf3 TCP throughput host -> DPU, 1 and 4 streams (median of the rounds);
  - this guest's CPU time per GB moved during those runs (from /proc/stat);
  - request/response latency: sockperf UDP ping-pong, p50 and p99 (median of the rounds), and
    each guest's CPU time per round trip (the rest of a round trip is spent outside them);
  - an idle link over 10 s: the link's interrupts, and for xpu also its NAPI polls (expected: 0).

Then the CXL rows (unless --no-cxl): both VMs have a CXL memory device over one file
(tools/lab/vm.sh --cxl), both sides load xpu again with the window in its region
(`modprobe xpu $(xpuctl cxl window)`), and the throughput and latency rounds run again, xpu over
CXL memory against virtio-net. Under TCG, CXL memory is emulated device memory, every access a
trip through QEMU: those rows show that cost, not a CXL link's.

Prints a table per medium (with the range of the per-round ratios) and, last, one JSON line.
"""

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import time

from compare import alternating, print_table, summarize

LINKS = {"virtio": "10.1.0.2", "xpu": "10.0.0.2"}
LOCAL = {"virtio": "10.1.0.1", "xpu": "10.0.0.1"}


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kw)


def netdev(driver):
    """The netdev whose driver is `driver` (virtio_net or xpu)."""
    for d in sorted(os.listdir("/sys/class/net")):
        link = f"/sys/class/net/{d}/device/driver"
        if os.path.islink(link) and os.path.basename(os.readlink(link)) == driver:
            return d
    sys.exit(f"bench: no {driver} netdev")


def setup(links=LINKS):
    devs = {"virtio": netdev("virtio_net"), "xpu": netdev("xpu")}
    for k, d in devs.items():
        if k not in links:
            continue
        # IPv4 only: IPv6's router solicitations and MLD reports would cross an idle link.
        sh("sysctl", "-qw", f"net.ipv6.conf.{d}.disable_ipv6=1")
        sh("ip", "addr", "add", f"{LOCAL[k]}/24", "dev", d)
        sh("ip", "link", "set", d, "up")
    for k, addr in links.items():
        for _ in range(600):
            if sh("ping", "-q", "-c", "1", "-W", "1", addr, check=False).returncode == 0:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"bench: no connectivity over {k} to {addr}")
    # The DPU's servers are up once they answer on both links.
    for k, addr in links.items():
        for _ in range(120):
            if sh("iperf3", "-c", addr, "-t", "1", check=False).returncode == 0:
                break
            time.sleep(1)
        else:
            sys.exit(f"bench: no iperf3 server at {addr}")
    return devs


def cpu_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def iperf(addr, streams, seconds):
    """Returns (bits/s received, this guest's CPU seconds per GB)."""
    for _ in range(5):
        cpu0 = cpu_busy_seconds()
        r = sh("iperf3", "-c", addr, "-t", str(seconds), "-P", str(streams), "-J", check=False)
        cpu = cpu_busy_seconds() - cpu0
        try:
            out = json.loads(r.stdout)
        except json.JSONDecodeError:
            out = {"error": r.stdout[-300:] + r.stderr[-300:]}
        # A test the server refused (busy with the previous one) may still exit 0, with an
        # error and no totals.
        if r.returncode == 0 and "sum_received" in out.get("end", {}):
            break
        time.sleep(1)
    else:
        sys.exit(f"bench: iperf3 to {addr} failed: {out.get('error', r.stdout[-300:])}")
    end = out["end"]["sum_received"]
    return end["bits_per_second"], cpu / (end["bytes"] / 1e9)


def dpu_cpu_busy_seconds():
    """The DPU VM's CPU time, from tools/bench/link_server.sh (asked over the xpu link)."""
    with socket.create_connection((LINKS["xpu"], 7778), 10) as s:
        return float(s.makefile().read())


def sockperf(addr, seconds):
    """Returns (p50, p99) latency in microseconds (sockperf reports half the round trip), the
    CPU time per round trip, in microseconds, of this guest and of the DPU guest, and the mean
    round trip. The CPU times split the mean round trip: what the two guests (their kernels and
    sockperf) spend, against the time spent outside them (QEMU and the machine carrying the
    doorbell or the packet)."""
    cpu0, dpu0 = cpu_busy_seconds(), dpu_cpu_busy_seconds()
    out = sh("sockperf", "pp", "-i", addr, "-p", "11111", "-t", str(seconds), "-m", "64").stdout
    cpu, dpu = cpu_busy_seconds() - cpu0, dpu_cpu_busy_seconds() - dpu0
    pct = {m.group(1): float(m.group(2)) for m in
           re.finditer(r"percentile\s+([\d.]+)\s*=\s*([\d.]+)", out)}
    n = max(int(re.search(r"ReceivedMessages=(\d+)", out).group(1)), 1)
    mean_rt = 2 * float(re.search(r"avg-lat(?:ency)?=\s*([\d.]+)", out).group(1))
    return pct["50.000"], pct["99.000"], cpu * 1e6 / n, dpu * 1e6 / n, mean_rt


def interrupts(pattern):
    """Sum of the /proc/interrupts lines whose name matches `pattern`."""
    n = 0
    with open("/proc/interrupts") as f:
        for line in f:
            if re.search(pattern, line):
                n += sum(int(x) for x in line.split()[1:] if x.isdigit())
    return n


def packets(dev):
    """Packets received and sent by `dev`."""
    return sum(int(open(f"/sys/class/net/{dev}/statistics/{c}").read()) for c in ("rx_packets", "tx_packets"))


def xpu_polls(dev):
    out = sh("ethtool", "-S", dev).stdout
    return sum(int(v) for k, v in re.findall(r"(rx\d+_napi_polls): (\d+)", out))


def to_cxl():
    """Loads xpu again on both sides with the window in CXL memory: the DPU VM first, asked
    over virtio-net (tools/bench/link_server.sh), then this one. The link comes back only if
    both sides took the same window."""
    try:
        with socket.create_connection((LINKS["virtio"], 7779), 10) as s:
            s.settimeout(300)
            answer = s.makefile().read()
    except OSError as e:
        sys.exit(f"bench: cannot ask the DPU VM to move xpu to CXL memory: {e}")
    if answer != "ok":
        sys.exit(f"bench: the DPU VM could not move xpu to CXL memory: {answer}")
    sh("rmmod", "xpu")
    window = sh("xpuctl", "cxl", "window").stdout.split()
    sh("modprobe", "xpu", *window)
    if "xpu: CXL mode, window" not in sh("dmesg").stdout:
        sys.exit("bench: xpu did not load in CXL mode")
    setup({"xpu": LINKS["xpu"]})


def rounds(results, rows, links, args, prefix="", ours="xpu"):
    """Throughput and latency, alternating between `links` (virtio and `ours`)."""
    for streams in (1, 4):
        runs = alternating(links, args.rounds, lambda a, s=streams: iperf(a, s, args.seconds))
        key = f"{prefix}tcp_p{streams}"
        summarize(results, rows, f"{key}_gbps", f"TCP host->DPU, {streams} stream(s)",
                  "Gbit/s", runs, 0, 1e-9, base="virtio", ours=ours)
        summarize(results, rows, f"{key}_cpu_s_per_gb", "  host guest CPU per GB", "CPU s/GB",
                  runs, 1, base="virtio", ours=ours)
    lat = alternating(links, args.rounds, lambda a: sockperf(a, args.seconds))
    for i, name in ((0, "p50"), (1, "p99")):
        summarize(results, rows, f"{prefix}latency_{name}_us", f"UDP ping-pong {name}", "us",
                  lat, i, base="virtio", ours=ours)
    summarize(results, rows, f"{prefix}latency_cpu_us_per_rt", "  host guest CPU per round trip",
              "us", lat, 2, base="virtio", ours=ours)
    summarize(results, rows, f"{prefix}latency_dpu_cpu_us_per_rt",
              "  DPU guest CPU per round trip", "us", lat, 3, base="virtio", ours=ours)
    summarize(results, rows, f"{prefix}latency_mean_rt_us", "  mean round trip", "us", lat, 4,
              base="virtio", ours=ours)


def round_trips(results, prefix, names):
    """Where a round trip goes (medians of the rounds' means), per link."""
    for k in names:
        rt = results[f"{prefix}latency_mean_rt_us_{k}"]
        guests = (results[f"{prefix}latency_cpu_us_per_rt_{k}"]
                  + results[f"{prefix}latency_dpu_cpu_us_per_rt_{k}"])
        results[f"{prefix}latency_rt_outside_guests_us_{k}"] = rt - guests
        print(f"{k}: mean round trip {rt:.0f} us = the two guests' CPU {guests:.0f} us "
              f"+ outside them {rt - guests:.0f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--cxl", action=argparse.BooleanOptionalAction, default=True,
                    help="the CXL rows too (xpu loaded again, its window in CXL memory)")
    args = ap.parse_args()

    devs = setup()
    results, rows = {}, []
    rounds(results, rows, LINKS, args)

    # Idle: nothing sent for 10 s. Interrupt lines: xpu's are xpu-*, virtio-net's virtioN-*
    # of its PCI function (the 9p share is virtio too: match the NIC's own MSI-X names).
    # TCP's last timers (FIN, delayed ACK) expire first.
    time.sleep(5)
    vpci = os.path.basename(os.readlink(f"/sys/class/net/{devs['virtio']}/device"))
    vpat = rf"{vpci}-(input|output|config)"

    def sample():
        return (interrupts(r"xpu-"), xpu_polls(devs["xpu"]), packets(devs["xpu"]),
                interrupts(vpat), packets(devs["virtio"]))

    before = sample()
    time.sleep(10)
    d = [a - b for a, b in zip(sample(), before)]
    idle = {"idle_10s_irqs_xpu": d[0], "idle_10s_napi_polls_xpu": d[1],
            "idle_10s_packets_xpu": d[2], "idle_10s_irqs_virtio": d[3],
            "idle_10s_packets_virtio": d[4]}
    results.update(idle)

    print("xpu's window in the ivshmem BAR:")
    print_table(rows, base="virtio")
    round_trips(results, "", LINKS)
    print(f"idle link, 10 s: xpu interrupts {d[0]}, NAPI polls {d[1]}, packets {d[2]}; "
          f"virtio-net interrupts {d[3]}, packets {d[4]}")
    if args.cxl:
        to_cxl()
        cxl_links = {"virtio": LINKS["virtio"], "xpu_cxl": LINKS["xpu"]}
        cxl_rows = []
        rounds(results, cxl_rows, cxl_links, args, prefix="cxl_", ours="xpu_cxl")
        print("\nxpu's window in CXL memory (emulated by QEMU: every access leaves the guest):")
        print_table(cxl_rows, base="virtio", ours="xpu_cxl")
        round_trips(results, "cxl_", cxl_links)
    # A ratio no round had is null, not NaN (which strict JSON has not).
    print(json.dumps({k: None if math.isnan(v) else round(v, 4) for k, v in results.items()}))
    # Tell the DPU VM we are done (tools/bench/link_server.sh waits for this), over virtio-net.
    sh("python3", "-c", "import socket; socket.create_connection(('10.1.0.2', 7777), 5).close()",
       check=False)


if __name__ == "__main__":
    main()
