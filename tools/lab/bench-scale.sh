#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The scale benchmark (a command, not a test): N pods (1 to 16), elastic xpu against the polling
# baseline and against the kernel's busy polling, idle, at a light rate and saturated.
#   tools/lab/bench-scale.sh [--pods 1,2,4,8,16] [--rounds N] [--seconds S] [--light F]
#   (make bench-scale BENCH_ARGS=...)
# One VM of 4 vCPUs, pair mode: CPUs 0-1 are the host side, 2-3 the DPU side
# (tools/bench/scale.py says what a pod and each mode are). Writes, besides printing them:
#   target/bench/scale.txt   the tables and issue 14's goals checked
#   target/bench/scale.json  every figure, by load, N, round and mode
#   target/bench/scale.png   CPU and p99 against N for each mode (light and saturated)
# Wall-clock TCG only: under -icount one host thread runs the vCPUs in turn, and a spinning
# vCPU holds it for its whole time slice, which would measure the emulator's scheduling, not
# polling. Runs on the perf flavour of the test kernel.
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh" bench-scale
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl && cargo build -q --release -p xpu-rr)
out=$XPU_ROOT/target/bench
mkdir -p "$out"
cores=$(nproc)
[ "$cores" -ge 4 ] || log "bench-scale: this machine has $cores cores for the VM's 4 vCPUs: what spins slows what it competes with (see the README)"
if ! "$XPU_ROOT/tools/lab/vm.sh" --name xpu-bench-scale --cpus 4 --mem 3G --timeout 5400 -- \
	"XPU_HOST_CPUS=$cores XPU_RR=$XPU_ROOT/target/release/xpu-rr python3 $XPU_ROOT/tools/bench/scale.py $*" |
	tee "$out/scale.log"; then
	die "bench-scale: the benchmark failed (see $out/scale.log; its last JSON line has the figures up to the last N completed)"
fi
# The figures are scale.py's last JSON line (one after each N, each with all so far).
{ grep '^{' "$out/scale.log" || true; } | tail -n 1 >"$out/scale.json"
{ grep -v '^{' "$out/scale.log" || true; } >"$out/scale.txt"
[ -s "$out/scale.json" ] || die "bench-scale: no figures in $out/scale.log"
"$XPU_VENV/bin/python3" "$XPU_ROOT/tools/bench/plot_scale.py" "$out/scale.json" "$out/scale.png"
log "bench-scale: $out/scale.txt, scale.json, scale.png"
