#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The scale benchmark's plot: CPU and p99 against the number of pods, for each mode.

  plot_scale.py SCALE.json OUT.png   (tools/lab/bench-scale.sh runs it on the JSON line of
                                      tools/bench/scale.py)
Four panels: CPU (all tasks; under --icount the instructions executed, in CPUs) and p99 round
trip, at the light load and saturated; each point the median of the rounds, its bar the range
of the rounds. Log scales: the modes differ by orders of magnitude.
"""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

MODES = ("elastic", "polling", "busy-poll", "spin", "veth")


def series(by_n, mode, key):
    """Per N: the median and its distance to the rounds' minimum and maximum."""
    ns, med, lo, hi = [], [], [], []
    for n in sorted(by_n, key=int):
        vals = [r[mode][key] for r in by_n[n] if r[mode].get(key) is not None]
        if not vals:
            continue
        m = statistics.median(vals)
        ns.append(int(n))
        med.append(m)
        lo.append(m - min(vals))
        hi.append(max(vals) - m)
    return ns, med, [lo, hi]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_scale.py SCALE.json OUT.png")
    with open(sys.argv[1]) as f:
        data = json.load(f)
    res = data["results"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    icount = data.get("clock") == "icount"
    cpu = "CPU, instructions (1e9/s a CPU)" if icount else "CPU, all tasks (CPUs)"
    panels = [("light", "cpu", cpu),
              ("saturated", "cpu", cpu),
              ("light", "p99_us", "p99 round trip (us)"),
              ("saturated", "p99_us", "p99 round trip (us)")]
    for ax, (load, key, label) in zip(axes.flat, panels):
        for mode in MODES:
            ns, med, err = series(res[load], mode, key)
            ax.errorbar(ns, med, yerr=err, marker="o", capsize=3, label=mode)
        ax.set_xscale("log", base=2)
        ns_all = sorted({int(n) for n in res[load]})
        ax.set_xticks(ns_all, [str(n) for n in ns_all])
        ax.set_yscale("log")
        ax.set_title(f"{load}: {label}")
        ax.set_xlabel("pods")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    cores = f", {data['host_cpus']} host cores" if data.get("host_cpus") else ""
    fig.suptitle(f"xpu elastic against polling, {data['cpus_per_side']} vCPUs a side{cores}, "
                 f"{'guest time (icount)' if icount else 'wall clock (TCG)'}; "
                 f"light = {data['light_rate']:.0f} requests/s per pod")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
