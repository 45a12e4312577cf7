#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Elastic xpu against polling at pod scale: N pods, four modes and a reference, three loads.

Runs inside the benchmark VM as root (tools/lab/bench-scale.sh boots it with 4 vCPUs). The
first half of the CPUs is the host side, the second half the DPU side. A pod is a pair of
network namespaces, its host half and its DPU half, joined by an xpu pair of its own (one
queue); its flow is a UDP request/response (64 bytes, `xpu-rr`, one request in flight) from a
client in the host half, on the host CPUs, to a server in the DPU half, on the DPU CPUs.

Modes, the first four over the same rings and the same datapath:
  - elastic: xpu as shipped (doorbells, coalesced and suppressed; nothing polls);
  - polling: the polling baseline (ethtool's busy-poll flag on both ends of every pod): each
    NAPI spins in a kernel thread of its own, pinned to one CPU of its side, as a DPDK
    poll-mode driver on a pinned core;
  - busy-poll: the kernel's socket busy polling (net.core.busy_read and busy_poll 50 us, the
    value Documentation/networking/napi.rst suggests): a socket that waits for a packet polls
    the NAPI it came from for up to 50 us before it sleeps;
  - spin: the same with 200 ms, longer than the light load's gap between requests: a server
    waiting for its next request spins on its NAPI, and a client on its reply, as a DPDK
    application runs to completion on its core, with no poller thread besides the
    application. Not at idle: a socket busy-polls the NAPI its last packet came from, and a
    new server has had none (the polling baseline is what spins at idle);
  - veth: the reference, not xpu: the same flow between the same namespaces over a veth pair,
    as elastic otherwise (what any interrupt-driven link costs a blocking application).
Loads: idle (servers waiting, no request), light (each pod at 1% of one flow's saturated
rate, measured first, elastic), saturated (each pod's client sends its next request as soon
as the reply arrives).

Per (N, load, mode): CPU used over the measurement, in CPUs (1.0 is one CPU busy all the time),
by each side's tasks (clients or servers, with the softirqs they ran, and the polling threads)
and by the rest (other kernel threads), from the scheduler's exact count per task;
transactions per second (all pods), p50/p99/p99.9 of the round trip over
the pooled round trips of all pods, requests lost (no reply within a second) and missed (a
light load's slots that had passed when the client could send), and context switches and
interrupts per transaction (the whole machine's, /proc/stat).

The VM's vCPUs are threads of QEMU's TCG: where the machine has fewer cores than the VM has
vCPUs (XPU_HOST_CPUS, recorded), a spinning vCPU takes a core from the others, and what
polls is slowed with what it competes with (the README's "Elastic against polling at scale").

Under -icount (tools/lab/bench-scale.sh --icount, which sets XPU_INSN_DIR) the clock is guest
time, the instructions executed (1 ns each), and each side's CPU is the instructions its vCPUs
executed (the xpu_insn plugin's count: applications, softirqs, polling threads, every other
task), in CPUs of the emulated machine, 1e9 instructions a second; "other" is then not
measured, and the tasks' clocks are kept in the JSON (task_*). One host thread runs the vCPUs
in turn, so the whole machine executes at most one such CPU: k spinning vCPUs get 1/k each,
and polling's CPU is a floor (with a core per vCPU it would be k times more). Also per
transaction: the guest's instructions, all vCPUs.

Rounds alternate the order of the modes; the table gives the median of the rounds, and the
ratios against elastic with the range of their per-round values. Prints the tables, the goals
of issue 14 checked, and, after each N and last, one JSON line with everything so far.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from compare import proc_events, sh, sleep_until, wait
from insn import Instructions

MODES = ("elastic", "polling", "busy-poll", "spin", "veth")
LOADS = ("idle", "light", "saturated")
PORT = 7000
RR = os.environ.get("XPU_RR", "xpu-rr")
# net.core.busy_read and busy_poll per mode: 50 us, the value the kernel's documentation
# suggests; 200 ms, longer than the light load's gap between requests (a process then spins).
BUSY_POLL_US = {"busy-poll": 50, "spin": 200_000}
# Under -icount (bench-scale.sh --icount): the plugin's counts; a nanosecond of guest time per
# instruction (shift=0), so a CPU executing all the time executes 1e9 a second.
INSNS = Instructions(os.environ["XPU_INSN_DIR"]) if os.environ.get("XPU_INSN_DIR") else None


class Side:
    """A half of the machine's CPUs, as a taskset list, and its CPU numbers."""

    def __init__(self, name, cpus):
        self.name, self.cpus = name, cpus
        self.mask = ",".join(map(str, cpus))


class Pod:
    """Pod i: namespaces xs-h{i} (host half) and xs-d{i} (DPU half), devices hx{i} and dx{i}."""

    def __init__(self, i, host, dpu):
        self.i, self.host, self.dpu = i, host, dpu
        self.hns, self.dns = f"xs-h{i}", f"xs-d{i}"
        self.hdev, self.ddev = f"hx{i}", f"dx{i}"
        self.server_addr = f"10.90.{i}.2"
        self.veth_addr = f"10.91.{i}.2"
        for ns in (self.hns, self.dns):
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.hns, "xpuctl", "link", "add", self.hdev, "--peer",
           self.ddev, "--peer-netns", self.dns, "--queues", "1")
        sh("ip", "-n", self.hns, "addr", "add", f"10.90.{i}.1/24", "dev", self.hdev)
        sh("ip", "-n", self.dns, "addr", "add", f"{self.server_addr}/24", "dev", self.ddev)
        # The reference: the same flow over a veth pair between the same two namespaces.
        sh("ip", "-n", self.hns, "link", "add", f"hv{i}", "type", "veth", "peer", "name",
           f"dv{i}", "netns", self.dns)
        sh("ip", "-n", self.hns, "addr", "add", f"10.91.{i}.1/24", "dev", f"hv{i}")
        sh("ip", "-n", self.dns, "addr", "add", f"{self.veth_addr}/24", "dev", f"dv{i}")
        sh("ip", "-n", self.hns, "link", "set", f"hv{i}", "up")
        sh("ip", "-n", self.dns, "link", "set", f"dv{i}", "up")
        sh("ip", "-n", self.hns, "link", "set", self.hdev, "up")
        sh("ip", "-n", self.dns, "link", "set", self.ddev, "up")
        wait(f"pod {i}'s link", self.ping)
        self.server = None

    def start_server(self):
        """(Re)starts the pod's server: a socket takes net.core.busy_read when it is created,
        so each mode's servers are new, as the clients are. Idle is servers waiting."""
        if self.server:
            self.stop()
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.dns, "taskset", "-c", self.dpu.mask, RR, "server",
             "--bind", f"0.0.0.0:{PORT}"], stderr=subprocess.PIPE, text=True)

    def listening(self):
        """Whether the server's socket is bound: read in its own namespace's /proc/PID/net/udp
        (no process to start per check; under TCG with every CPU polling, an exec is slow)."""
        try:
            with open(f"/proc/{self.server.pid}/net/udp") as f:
                return any(line.split()[1].endswith(f":{PORT:04X}") for line in list(f)[1:])
        except OSError:
            return False

    def ping(self):
        return sh("ip", "netns", "exec", self.hns, "ping", "-c1", "-W1", self.server_addr,
                  check=False).returncode == 0

    def client(self, addr, rate, seconds, start_at, rtt_file):
        cmd = ["ip", "netns", "exec", self.hns, "taskset", "-c", self.host.mask, RR, "client",
               "--connect", f"{addr}:{PORT}", "--seconds", str(seconds),
               "--start-at", f"{start_at:.6f}", "--timeout-ms", "1000", "--rtt-file", rtt_file]
        if rate:
            cmd += ["--rate", str(rate)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def set_polling(self, on):
        """Starts setting the busy-poll flag on both ends; returns the processes to wait for."""
        flag = "on" if on else "off"
        return [subprocess.Popen(["ip", "netns", "exec", ns, "ethtool", "--set-priv-flags", dev,
                                  "busy-poll", flag], stderr=subprocess.PIPE, text=True)
                for ns, dev in ((self.hns, self.hdev), (self.dns, self.ddev))]

    def stop(self):
        if self.server.poll() is not None:
            sys.exit(f"bench: pod {self.i}'s server died: {self.server.stderr.read()[-500:]}")
        self.server.terminate()
        self.server.wait(timeout=30)


def tasks():
    """(PID, name) of every task, from /proc; a task that exits meanwhile is skipped."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                yield int(pid), f.read().strip()
        except OSError:
            continue


def napi_threads(prefix):
    """PIDs of the threaded NAPIs of devices whose names start with `prefix` (napi/DEV-ID)."""
    return sorted(pid for pid, comm in tasks() if comm.startswith(f"napi/{prefix}"))


def pin_pollers(pods, host, dpu):
    """Each polling thread on one CPU of its side, round robin from the side's last CPU: a PMD
    on its pinned core, the first ones on CPUs of their own while the pods are fewer than the
    CPUs (the applications, not pinned within their side, take the others)."""
    for prefix, side in (("hx", host), ("dx", dpu)):
        want = len(pods)
        wait(f"{want} polling threads on the {side.name} side",
             lambda p=prefix: len(napi_threads(p)) >= want, tries=100, step=0.1)
        for k, pid in enumerate(napi_threads(prefix)):
            sh("taskset", "-pc", str(side.cpus[-1 - k % len(side.cpus)]), str(pid))


def set_mode(pods, mode, host, dpu):
    polling = mode == "polling"
    for proc in [proc for p in pods for proc in p.set_polling(polling)]:
        if proc.wait(timeout=60) != 0:
            sys.exit(f"bench: ethtool --set-priv-flags busy-poll: {proc.stderr.read().strip()}")
    if polling:
        pin_pollers(pods, host, dpu)
        # A threaded NAPI starts spinning when it is first scheduled, a PMD as it starts: one
        # round trip per pod schedules both ends' NAPIs, which then never complete.
        for p in pods:
            p.ping()
    us = str(BUSY_POLL_US.get(mode, 0))
    sh("sysctl", "-q", "-w", f"net.core.busy_read={us}", f"net.core.busy_poll={us}")
    for p in pods:
        p.start_server()
    for p in pods:
        wait(f"pod {p.i}'s server", p.listening, tries=400, step=0.05)
    # Let the switch settle before measuring: the threads started or parked, the rings
    # re-armed, and udev done with the events of the devices' changed flags (its workers,
    # slow to start under TCG, would otherwise run inside the measurement).
    sh("udevadm", "settle", "--timeout=30", check=False)
    time.sleep(0.5)


def proc_counts():
    """The clock and the machine's context switches and interrupts so far (/proc/stat)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME), proc_events()


def task_cpu():
    """Every task's CPU time so far, by PID, with its name: the scheduler's own count (the
    PID's CLOCK_PROCESS_CPUTIME_ID, clockid (~pid << 3) | 2), exact to the nanosecond.

    Not /proc/stat: its user and system times are samples taken at each tick (a CPU that wakes
    for a moment is charged a whole tick, or nothing), and its idle time, which NO_HZ keeps
    exactly, read a CPU kept 20% busy as less than idle on this test kernel under TCG.
    """
    cpu = {}
    for pid, comm in tasks():
        try:
            cpu[pid] = (comm, time.clock_gettime(((~pid) << 3) | 2))
        except OSError:
            continue
    return cpu


def side_cpu(t0, t1, elapsed, host_pids, dpu_pids):
    """CPUs used over the window by each side's tasks (its clients or servers and its ends'
    polling threads) and by everything else (kernel threads such as ksoftirqd, the rest).

    Work done in a task's context is that task's: in pair mode a doorbell runs the peer's
    NAPI in the sender's softirq, so the link's work is counted with the application's. Not
    counted: interrupts taken while a CPU idled, and entering and leaving idle itself.
    """
    out = {"cpu_host": 0.0, "cpu_dpu": 0.0, "cpu_other": 0.0}
    for pid, (comm, t) in t1.items():
        if pid not in t0:
            continue
        used = (t - t0[pid][1]) / elapsed
        if pid in host_pids or comm.startswith("napi/hx"):
            out["cpu_host"] += used
        elif pid in dpu_pids or comm.startswith("napi/dx"):
            out["cpu_dpu"] += used
        else:
            out["cpu_other"] += used
    out["cpu"] = sum(out.values())
    return out


def vcpu_cpu(i0, i1, elapsed, host, dpu):
    """CPUs used over the window by each side's vCPUs, from the instructions each executed
    (the xpu_insn plugin's counts): per guest second, in 1e9 instructions (shift=0)."""
    def side(s):
        return sum(i1[c] - i0[c] for c in s.cpus) / (elapsed * 1e9)
    out = {"cpu_host": side(host), "cpu_dpu": side(dpu), "cpu_other": None}
    out["cpu"] = out["cpu_host"] + out["cpu_dpu"]
    return out


def pooled(files):
    rtts = []
    for path in files:
        with open(path) as f:
            rtts.extend(int(x) for x in f)
    rtts.sort()

    def pct(q):
        # Nearest rank, as xpu-rr's own summary: a round trip that happened.
        if not rtts:
            return None
        return rtts[min(len(rtts), max(1, math.ceil(q * len(rtts)))) - 1] / 1e3
    return len(rtts), pct(0.5), pct(0.99), pct(0.999)


def measure(pods, mode, load, rate, seconds):
    """One measurement: the load on every pod at once. Returns a dict of figures.

    The clients start first and warm up until a common start time; the CPU is read over the
    measured seconds alone, so starting and reaping processes (slow under TCG) is not counted.
    A client that could not start in time refuses to run (xpu-rr's --start-at): the
    measurement is then taken again with twice the time to start.
    """
    # Time to start the clients: under TCG with every CPU polling, an exec takes a while.
    budget = 0.1 if load == "idle" else 1.0 + 0.3 * len(pods)
    for _ in range(4):
        out = measure_once(pods, mode, load, rate, seconds, budget)
        if out is not None:
            return out
        budget *= 2
    sys.exit(f"bench: {mode}, {load}: clients still late to start with {budget / 2:.0f} s")


def measure_once(pods, mode, load, rate, seconds, budget):
    start_at = time.time() + budget
    files, clients = [], []
    if load != "idle":
        files = [f"/tmp/xpu-scale-rtt-{p.i}" for p in pods]
        clients = [p.client(p.veth_addr if mode == "veth" else p.server_addr,
                            rate if load == "light" else None, seconds, start_at, f)
                   for p, f in zip(pods, files)]
    sleep_until(start_at)
    c0, n0 = proc_counts()
    tasks0 = task_cpu()
    if INSNS:
        # The plugin's window is the marks', timed by the guest's clock read around them.
        t0 = time.clock_gettime(time.CLOCK_BOOTTIME)
        m0 = INSNS.mark_now()
    sleep_until(start_at + seconds)
    if INSNS:
        m1 = INSNS.mark_now()
        t1 = time.clock_gettime(time.CLOCK_BOOTTIME)
    c1, n1 = proc_counts()
    tasks1 = task_cpu()
    elapsed = c1 - c0
    out = side_cpu(tasks0, tasks1, elapsed, {c.pid for c in clients},
                   {p.server.pid for p in pods})
    if INSNS:
        out = {f"task_{k}": v for k, v in out.items()}
        host, dpu = pods[0].host, pods[0].dpu
        out.update(vcpu_cpu(INSNS.per_vcpu(m0), INSNS.per_vcpu(m1), t1 - t0, host, dpu))
        out["insn"] = INSNS.count(m1) - INSNS.count(m0)
    # What a transaction costs besides CPU time: wake-ups (context switches) and interrupts.
    out.update({f"{k}_per_s": (n1[k] - n0[k]) / elapsed for k in n0})
    lost = missed = requests = 0
    late = False
    for p, c in zip(pods, clients):
        try:
            res, err = c.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            c.kill()
            sys.exit(f"bench: pod {p.i}'s client did not finish within {seconds + 120} s")
        if c.returncode != 0:
            if "--start-at" in err and " ago " in err:
                late = True
                continue
            sys.exit(f"bench: pod {p.i}'s client failed: {err.strip()[-500:]}")
        r = json.loads(res)
        lost, missed = lost + r["lost"], missed + r["missed"]
        requests += r["requests"]
    if late:
        return None
    if files:
        n, p50, p99, p999 = pooled(files)
        out.update(tps=n / seconds, p50_us=p50, p99_us=p99, p999_us=p999, lost=lost,
                   missed=missed, requests=requests)
        if n:
            out.update(ctxt_per_trans=out["ctxt_per_s"] / out["tps"],
                       intr_per_trans=out["intr_per_s"] / out["tps"])
            if INSNS:
                out["insn_per_trans"] = out["insn"] / n
    return out


def ratio_range(runs, key, mode):
    """Per-round ratios mode/elastic of `key`: (median, min, max), None if undefined."""
    per = [r[mode][key] / r["elastic"][key] for r in runs
           if r[mode].get(key) is not None and r["elastic"].get(key)]
    if not per:
        return None
    return statistics.median(per), min(per), max(per)


def show(rr):
    if rr is None:
        return "-"
    return f"{rr[0]:.2f} ({rr[1]:.2f}..{rr[2]:.2f})"


def median(runs, mode, key):
    vals = [r[mode][key] for r in runs if r[mode].get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, width=8, prec=3):
    return f"{'-':>{width}}" if v is None else f"{v:{width}.{prec}f}"


def precision(key):
    """Decimals for a figure: CPUs to a thousandth, counts whole, the rest to a tenth."""
    if key.startswith("cpu"):
        return 3
    return 0 if key in ("lost", "missed", "insn_per_trans") else 1


def print_load(load, table):
    keys = [("cpu_host", "CPU host"), ("cpu_dpu", "CPU DPU"), ("cpu_other", "CPU other")]
    if load != "idle":
        keys += [("tps", "trans/s"), ("p50_us", "p50 us"), ("p99_us", "p99 us"),
                 ("p999_us", "p99.9 us"), ("lost", "lost"), ("missed", "missed"),
                 ("ctxt_per_trans", "ctxsw/tr"),
                 ("intr_per_trans", "irq/tr")]
        if INSNS:
            keys += [("insn_per_trans", "insn/tr")]
    print(f"\n== {load} ==")
    print(f"{'N':>3} {'mode':10} " + " ".join(f"{name:>10}" for _, name in keys))
    for n, runs in table.items():
        for mode in MODES:
            print(f"{n:>3} {mode:10} " +
                  " ".join(fmt(median(runs, mode, k), 10, precision(k)) for k, _ in keys))
        for mode in MODES[1:]:
            parts = []
            for k, name in [("cpu", "CPU")] + ([("p50_us", "p50"), ("p99_us", "p99"),
                                                  ("tps", "trans/s")] if load != "idle" else []):
                rr = ratio_range(runs, k, mode)
                parts.append(f"{name} {show(rr)}")
            print(f"{'':>3} {mode + '/elastic':20} " + "; ".join(parts))


def goal(label, rr, at_least):
    """A goal on a ratio 'at least X': met by the median; the per-round range is shown."""
    if rr is None:
        print(f"  {label}: not measured")
        return False
    met = rr[0] >= at_least
    print(f"  {label}: {show(rr)}, goal at least {at_least}: "
          f"{'met' if met else 'NOT met'}")
    return met


def figures(results, one, rate, args, host):
    """The run's figures as one JSON line (tools/bench/plot_scale.py reads it)."""
    return json.dumps({"cpus_per_side": len(host.cpus), "clock": "icount" if INSNS else "wall",
                       "host_cpus": int(os.environ.get("XPU_HOST_CPUS", "0")) or None,
                       "one_flow_tps": one["tps"], "light_rate": rate, "seconds": args.seconds,
                       "results": {load: {str(n): runs for n, runs in by_n.items()}
                                   for load, by_n in results.items() if by_n}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", default="1,2,4,8,16", help="pod counts, comma separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--light", type=float, default=0.01,
                    help="the light load per pod, a fraction of one flow's saturated rate")
    args = ap.parse_args()
    try:
        counts = sorted({int(x) for x in args.pods.split(",")})
    except ValueError:
        sys.exit(f"bench: --pods takes pod counts separated by commas, not '{args.pods}'")
    if not counts or counts[0] < 1 or counts[-1] > 200:
        sys.exit(f"bench: --pods: counts from 1 to 200, not '{args.pods}'")
    if args.rounds < 1 or args.seconds <= 0 or not 0 < args.light <= 1:
        sys.exit("bench: --rounds at least 1, --seconds above 0, --light in (0, 1]")
    ncpu = os.cpu_count()
    if ncpu < 2 or ncpu % 2:
        sys.exit(f"bench: needs an even number of CPUs, half a side ({ncpu} here)")
    host = Side("host", list(range(ncpu // 2)))
    dpu = Side("dpu", list(range(ncpu // 2, ncpu)))

    sh("modprobe", "xpu")
    pods = [Pod(0, host, dpu)]
    set_mode(pods, "elastic", host, dpu)
    one = measure(pods, "elastic", "saturated", None, args.seconds)
    rate = max(1.0, one["tps"] * args.light)
    print(f"one flow saturated, elastic: {one['tps']:.0f} transactions/s; "
          f"light load: {rate:.1f} requests/s per pod", flush=True)
    if 1 / rate >= BUSY_POLL_US["spin"] / 1e6:
        print(f"bench: the light load's gap ({1e3 / rate:.0f} ms) is longer than spin mode's "
              f"busy polling ({BUSY_POLL_US['spin'] / 1e3:.0f} ms): its servers sleep between "
              "requests", flush=True)

    results = {load: {} for load in LOADS}
    for n in counts:
        pods += [Pod(i, host, dpu) for i in range(len(pods), n)]
        active = pods[:n]
        # Setting a mode costs seconds (ethtool on every device, every server restarted, udev):
        # a round sets each mode once and measures the three loads in it.
        runs = {load: [] for load in LOADS}
        for r in range(args.rounds):
            got = {load: {} for load in LOADS}
            for mode in MODES if r % 2 == 0 else reversed(MODES):
                set_mode(active, mode, host, dpu)
                for load in LOADS:
                    got[load][mode] = measure(active, mode, load, rate, args.seconds)
            for load in LOADS:
                runs[load].append(got[load])
        for load in LOADS:
            results[load][n] = runs[load]
            print(f"N={n} {load}: " + ", ".join(
                f"{m} CPU{fmt(median(runs[load], m, 'cpu'), 6)}" +
                (f" p99{fmt(median(runs[load], m, 'p99_us'), 7, 0)} us" if load != "idle" else "")
                for m in MODES), flush=True)
        # Everything so far, as the last line will be: a run cut short keeps what it measured.
        print(figures(results, one, rate, args, host), flush=True)
        # The next N's pods join in elastic mode; these return to it.
        set_mode(active, "elastic", host, dpu)

    cpu = ("each side's vCPUs' instructions, 1e9 a second a CPU (icount)" if INSNS
           else "by task, wall clock")
    print(f"\nCPU in CPUs, {cpu} ({len(host.cpus)} CPUs a side); round trips in us; "
          f"medians of {args.rounds} rounds; ratios mode/elastic (per-round range)")
    for load in LOADS:
        print_load(load, results[load])

    print("\nIssue 14's goals (polling/elastic and busy-poll/elastic ratios; higher is better for"
          " elastic):")
    if INSNS:
        print("  (icount: one host thread runs the vCPUs in turn, so polling's CPU is a floor, at\n"
              "  most one CPU for the machine, and a spinning vCPU's round trips wait for the\n"
              "  others' turns: the latencies of polling and spin are not theirs on a machine)")
    lo, hi = counts[0], counts[-1]
    idle, light = results["idle"], results["light"]
    goal(f"{lo} pod(s) idle, CPU polling/elastic", ratio_range(idle[lo], "cpu", "polling"), 100)
    goal(f"{lo} pod(s) light, CPU polling/elastic", ratio_range(light[lo], "cpu", "polling"), 64)
    for mode in ("polling", "spin"):
        p50 = ratio_range(light[lo], "p50_us", mode)
        if p50 is None:
            print(f"  {lo} pod(s) light, p50 elastic/{mode}: not measured")
            continue
        print(f"  {lo} pod(s) light, p50 elastic/{mode}: {1 / p50[0]:.2f} "
              f"({1 / p50[2]:.2f}..{1 / p50[1]:.2f}), goal at most 1.3: "
              f"{'met' if 1 / p50[0] <= 1.3 else 'NOT met'}")
    goal(f"{hi} pod(s) light, p99 polling/elastic", ratio_range(light[hi], "p99_us", "polling"), 32)
    goal(f"{hi} pod(s) light, CPU polling/elastic", ratio_range(light[hi], "cpu", "polling"), 10)

    for p in pods:
        p.stop()
    sh("sysctl", "-q", "-w", "net.core.busy_read=0", "net.core.busy_poll=0")
    print(figures(results, one, rate, args, host))


if __name__ == "__main__":
    main()
