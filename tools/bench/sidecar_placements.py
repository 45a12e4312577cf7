#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A pod's Envoy sidecar in three placements, under the same load, in the same run.

Runs on this machine (tools/lab/bench-vms.sh sidecar boots the host VM and the DPU VM, each
running tools/bench/sidecar_half.py, and gives the DPU VM a NIC on a tap here, 10.99.0.2).
One pod, split: the application (nginx, :8080) on the host half, the DPU half its edge, the
pod's uplink routed by the DPU VM. The load comes from this machine, outside the node, natively
(a client under TCG would cost the VM it ran in more than what it measures). The placements:

  host    Envoy on the host half, behind Istio's rules there (`intercept --sidecar host`): the
          sidecar as an ordinary pod runs it; the DPU half only forwards.
  xpu     Envoy on the DPU half, behind `xpuctl splitns intercept`: the offload, over xpu.
  virtio  Envoy on the DPU VM, reached as a separate host: a reverse proxy on 10.99.0.2:15080
          to the application on the host VM's virtio-net address (how infrastructure on a DPU's
          cores is reached today).

Each Envoy is the same binary with one worker and the same filter (TCP proxy). The load: wrk at
saturation, then hey at a fixed rate (40% of the lowest saturated rate of a warm-up round,
unless --rate), both over 8 keep-alive connections. Each round visits every placement, in the
other order each round (tools/bench/compare.py), and checks that its Envoy carried the load.

Reported, as medians with the ratios and their per-round range: the host VM's CPU time per
request (from its /proc/stat, asked around each run), requests/s at saturation, and p50/p99
at the fixed rate; the DPU VM's CPU time per request too.

Prints the tables, the issue's goals against the figures, and, last, one JSON line.
"""

import argparse
import json
import os
import re
import socket
import sys
import time

from compare import alternating, print_table, sh, summarize, wait

POD = "10.244.1.5"
CONNECTIONS = 8  # the load's connections, at saturation and at the fixed rate
URLS = {"host": f"http://{POD}:8080/", "xpu": f"http://{POD}:8080/",
        "virtio": "http://10.99.0.2:15080/"}
VMS = {"host": "10.1.0.1", "dpu": "10.99.0.2"}  # tools/bench/sidecar_half.py on each


def vms_alive():
    """Whether the VMs bench-vms.sh started (XPU_BENCH_VM_PIDS) are still running."""
    for pid in os.environ.get("XPU_BENCH_VM_PIDS", "").split():
        try:
            os.kill(int(pid), 0)
        except OSError:
            return False
    return True


def ask(vm, cmd, tries=1):
    """One request to tools/bench/sidecar_half.py in `vm`."""
    for _ in range(tries):
        if not vms_alive():
            sys.exit(f"bench: a VM stopped (its log: XPU_CACHE/vm-logs/bench-sidecar.*.out)")
        try:
            with socket.create_connection((VMS[vm], 7778), 5) as s:
                s.settimeout(600)
                f = s.makefile("rw")
                f.write(cmd + "\n")
                f.flush()
                reply = f.readline().strip()
                break
        except OSError:
            time.sleep(1)
    else:
        sys.exit(f"bench: the {vm} VM does not answer '{cmd}'")
    if reply.startswith("error") or not reply:
        sys.exit(f"bench: the {vm} VM: '{cmd}': {reply or 'no reply'}")
    return reply


class Placements:
    def __init__(self):
        self.current = None

    def place(self, p):
        """Only placement `p`'s Envoy takes the load (virtio's is a separate host: always up,
        and only reached at its own address)."""
        if p == self.current:
            return
        if p != "xpu":
            ask("dpu", "sidecar off")
        if p != "host":
            ask("host", "sidecar off")
        if p in ("xpu", "host"):
            ask("dpu" if p == "xpu" else "host", "sidecar on")
        self.current = p
        # One request through, before the load.
        wait(f"a first request through placement {p}", lambda: sh(
            "curl", "-sf", "--max-time", "10", URLS[p], check=False).returncode == 0, tries=60)

    def carried(self, p):
        """Connections its Envoy has taken so far."""
        if p == "host":
            return int(ask("host", "inbound"))
        if p == "xpu":
            return int(ask("dpu", "inbound"))
        return int(ask("dpu", "inbound proxy"))


def measured(placements, p, cmd):
    """Runs load `cmd` through placement `p`. Returns its output, and the host VM's and the
    DPU VM's CPU seconds during it."""
    placements.place(p)
    before = placements.carried(p)
    h0, d0 = float(ask("host", "cpu")), float(ask("dpu", "cpu"))
    out = sh(*cmd).stdout
    h1, d1 = float(ask("host", "cpu")), float(ask("dpu", "cpu"))
    if placements.carried(p) <= before:
        sys.exit(f"bench: placement {p}: its Envoy took no connection: the load bypassed it")
    return out, h1 - h0, d1 - d0


def saturate(placements, p, seconds):
    """wrk: (requests/s, host CPU us per request, DPU CPU us per request)."""
    out, hcpu, dcpu = measured(placements, p, ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
                                               URLS[p]])
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    if n == 0 or errors or (sockets and any(int(x) for x in sockets.groups()[:3])):
        sys.exit(f"bench: placement {p}: wrk: {out}")
    if sockets:
        print(f"  {p:7} wrk: {sockets.group(4)} requests timed out")
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    return rps, hcpu * 1e6 / n, dcpu * 1e6 / n


def fixed_rate(placements, p, seconds, rate):
    """hey at `rate` requests/s in all, over as many connections as wrk's (each of hey's
    workers waits for its answer before its next tick, so a few would fall behind the rate):
    (p50 ms, p99 ms, host CPU us per request, requests/s achieved)."""
    workers = CONNECTIONS
    out, hcpu, _ = measured(placements, p, [
        "hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(rate / workers),
        URLS[p]])
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    if set(codes) != {"200"} or "Error distribution" in out:
        sys.exit(f"bench: placement {p}: hey: {out}")
    pct = {int(a): float(b) * 1e3 for a, b in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    n = int(codes["200"])
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    return pct[50], pct[99], hcpu * 1e6 / n, rps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rate", type=int, help="the fixed rate, requests/s (default: 40%% of "
                    "the lowest saturated rate of the warm-up round)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    # Each VM answers once its half is set up (minutes under TCG).
    for vm in VMS:
        ask(vm, "cpu", tries=900)
    print("bench: both halves split, the application up, the DPU VM's proxy up")
    placements = Placements()
    names = {p: p for p in URLS}
    # A warm-up round, not counted: each placement once, which also sets the fixed rate.
    warm = {p: saturate(placements, p, args.seconds)[0] for p in URLS}
    rate = args.rate or max(CONNECTIONS, int(min(warm.values()) * 0.4))
    print(f"warm-up, requests/s at saturation: "
          + ", ".join(f"{p} {v:.0f}" for p, v in warm.items()) + f"; fixed rate {rate}/s",
          flush=True)

    def visit(p):
        v = saturate(placements, p, args.seconds) + fixed_rate(placements, p, args.seconds,
                                                               rate)
        print(f"  {p:7} {v[0]:7.0f} req/s, host CPU {v[1]:6.0f} us/req; at {rate}/s: "
              f"p50 {v[3]:6.2f} ms, p99 {v[4]:6.2f} ms ({v[6]:.0f} req/s achieved)")
        if v[6] < 0.9 * rate:
            print(f"  {p:7} fell behind the fixed rate: its percentiles are not at {rate}/s")
            behind[p] = behind.get(p, 0) + 1
        return v

    behind = {}
    runs = alternating(names, args.rounds, visit)
    # Rounds whose fixed-rate run fell 10% behind the rate, per placement: their percentiles
    # are in the medians, and say less.
    results = {"fixed_rate_rps": rate, **{f"fixed_rate_behind_{p}": n for p, n in behind.items()}}
    for base in ("host", "virtio"):
        rows = []
        r = {}
        summarize(r, rows, "host_cpu_us_per_req", "host VM CPU per request (wrk)", "us", runs,
                  1, base=base, ours="xpu")
        summarize(r, rows, "sat_rps", "requests/s at saturation", "req/s", runs, 0,
                  base=base, ours="xpu")
        summarize(r, rows, "dpu_cpu_us_per_req", "  DPU VM CPU per request (wrk)", "us",
                  runs, 2, base=base, ours="xpu")
        summarize(r, rows, "p50_ms", f"p50 at {rate} req/s", "ms", runs, 3, base=base,
                  ours="xpu")
        summarize(r, rows, "p99_ms", f"p99 at {rate} req/s", "ms", runs, 4, base=base,
                  ours="xpu")
        summarize(r, rows, "fixed_host_cpu_us_per_req", f"host VM CPU per request at {rate}/s",
                  "us", runs, 5, base=base, ours="xpu")
        summarize(r, rows, "fixed_rps", "  requests/s achieved", "req/s", runs, 6, base=base,
                  ours="xpu")
        print()
        print_table(rows, base=base)
        results.update({k.replace("_ratio", f"_ratio_vs_{base}"): v for k, v in r.items()})
    print()
    goals = [("host CPU per request, xpu/host", "host_cpu_us_per_req_ratio_vs_host", 0.5),
             ("p99 at the fixed rate, xpu/host", "p99_ms_ratio_vs_host", 1.2),
             ("p99 at the fixed rate, xpu/virtio", "p99_ms_ratio_vs_virtio", 0.6)]
    for label, key, goal in goals:
        v = results[key]
        lo, hi = results[key + "_min"], results[key + "_max"]
        print(f"goal: {label} at most {goal}: {v:.2f} (rounds {lo:.2f}..{hi:.2f}), "
              f"{'met' if v <= goal else 'NOT met'}")
    print(json.dumps({k: round(v, 4) for k, v in results.items()}))
    placements.place("virtio")  # both sidecars off
    for vm in VMS:
        ask(vm, "done")


if __name__ == "__main__":
    main()
