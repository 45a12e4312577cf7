# SPDX-License-Identifier: GPL-2.0
"""What the xpu benchmarks share: alternating rounds and the ratio of medians.

Both compare xpu (`ours`) with a standard alternative (`base`) in the same run. Rounds alternate
the order, so drift in a noisy (TCG) machine hits both alike; a table row gives the medians,
their ratio and the range of the per-round ratios, to show the noise.
"""

import math
import statistics
import subprocess
import sys
import time


def sh(*args, check=True, **kw):
    """Runs a command, its output captured; exits with its error if it fails and `check`."""
    r = subprocess.run(args, text=True, capture_output=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
    return r


def wait(what, cond, tries=600, step=0.5):
    """Polls `cond` until it holds; exits saying `what` it waited for if it never does."""
    for _ in range(tries):
        if cond():
            return
        time.sleep(step)
    sys.exit(f"bench: timed out waiting for {what}")


def sleep_until(t):
    """Sleeps until time.time() reaches `t` (at once if it has)."""
    time.sleep(max(0.0, t - time.time()))


def proc_events():
    """The machine's context switches and interrupts so far (/proc/stat's ctxt and intr)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name in ("ctxt", "intr"):
                out[name] = int(v[0])
    return out


def alternating(items, rounds, measure):
    """Runs `measure(value)` `rounds` times per item of the dict `items`, in its order in even
    rounds and reversed in odd ones. Returns the results per key, by round."""
    runs = {k: [] for k in items}
    for r in range(rounds):
        order = list(items.items())
        for k, v in order if r % 2 == 0 else reversed(order):
            runs[k].append(measure(v))
    return runs


def summarize(results, rows, key, label, unit, runs, i, scale=1.0, *, base, ours="xpu"):
    """Median of field `i` per item, the ratio `ours`/`base` of the medians and the range of
    the per-round ratios, into `results` (JSON) and `rows` (table)."""
    med = {k: statistics.median(r[i] for r in v) * scale for k, v in runs.items()}
    # A round whose base measured nothing (CPU time in whole ticks of 10 ms, say) has no
    # ratio; no round with one leaves the range unknown (nan).
    per_round = [x[i] / v[i] for v, x in zip(runs[base], runs[ours]) if v[i]] or [math.nan]
    ratio = med[ours] / med[base] if med[base] else math.nan
    results.update({f"{key}_{base}": med[base], f"{key}_{ours}": med[ours],
                    f"{key}_ratio": ratio, f"{key}_ratio_min": min(per_round),
                    f"{key}_ratio_max": max(per_round)})
    rows.append((label, unit, med[base], med[ours], ratio, min(per_round), max(per_round)))


def print_table(rows, base, ours="xpu"):
    ratio = f"{ours}/{base}"
    print(f"{'measure':34} {'unit':9} {base:>10} {ours:>10} {ratio:>10} {'per round':>12}")
    for name, unit, v, x, r, lo, hi in rows:
        print(f"{name:34} {unit:9} {v:10.3f} {x:10.3f} {r:10.2f} {lo:5.2f}..{hi:<5.2f}")
