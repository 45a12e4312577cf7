#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The scale benchmark (a command, not a test): N pods (1 to 16), elastic xpu against the polling
# baseline and against the kernel's busy polling, idle, at a light rate and saturated.
#   tools/lab/bench-scale.sh [--icount] [--pods 1,2,4,8,16] [--rounds N] [--seconds S] [--light F]
#   (make bench-scale BENCH_ARGS=...)
# One VM of 4 vCPUs, pair mode: CPUs 0-1 are the host side, 2-3 the DPU side
# (tools/bench/scale.py says what a pod and each mode are). Writes, besides printing them:
#   target/bench/scale.txt   the tables and issue 14's goals checked
#   target/bench/scale.json  every figure, by load, N, round and mode
#   target/bench/scale.png   CPU and p99 against N for each mode (light and saturated)
# Wall-clock TCG by default: the vCPUs are threads on this machine's cores, and where it has
# fewer cores than vCPUs, what spins slows what it competes with.
# --icount: QEMU's -icount shift=0,sleep=on, FSRM off, as make bench-cost (XPU_INSN_QEMU in
# common.sh): one host thread runs the vCPUs in turn and the guest's clock follows the
# instructions executed (1 ns each), so the figures are guest time, whatever this machine's
# speed and load. Each side's CPU is then the instructions its vCPUs executed, counted by the
# xpu_insn plugin (1e9 a second is one CPU), not the tasks' clocks. The machine executes at
# most one such CPU in all: k spinning vCPUs get 1/k each (the README says what that does to
# each mode).
# Writes scale-icount.{txt,json,png}. Runs on the perf flavour of the test kernel.
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
icount=0 args=()
for a in "$@"; do
	case $a in
	--icount) icount=1 ;;
	*) args+=("$a") ;;
	esac
done
"$XPU_ROOT/tools/lab/deps.sh" bench-scale
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl && cargo build -q --release -p xpu-rr)
out=$XPU_ROOT/target/bench
mkdir -p "$out"
cores=$(nproc) name=scale vm=() env="XPU_HOST_CPUS=$cores"
if [ $icount = 1 ]; then
	name=scale-icount
	plugin=$(insn_plugin)
	# Where the plugin writes the counts the guest asks for (the guest sees this machine's root).
	marks=$XPU_CACHE/vm-logs/insn-marks-scale
	rm -rf "$marks"
	mkdir -p "$marks"
	vm=(--qemu-opts "$XPU_INSN_QEMU -plugin $plugin,dir=$marks")
	env="XPU_INSN_DIR=$marks"
elif [ "$cores" -lt 4 ]; then
	log "bench-scale: this machine has $cores cores for the VM's 4 vCPUs: what spins slows what it competes with (see the README)"
fi
if ! "$XPU_ROOT/tools/lab/vm.sh" --name xpu-bench-scale --cpus 4 --mem 3G --timeout 9000 "${vm[@]}" -- \
	"$env XPU_RR=$XPU_ROOT/target/release/xpu-rr python3 $XPU_ROOT/tools/bench/scale.py ${args[*]}" |
	tee "$out/$name.log"; then
	die "bench-scale: the benchmark failed (see $out/$name.log; its last JSON line has the figures up to the last N completed)"
fi
# The figures are scale.py's last JSON line (one after each N, each with all so far).
{ grep '^{' "$out/$name.log" || true; } | tail -n 1 >"$out/$name.json"
{ grep -v '^{' "$out/$name.log" || true; } >"$out/$name.txt"
[ -s "$out/$name.json" ] || die "bench-scale: no figures in $out/$name.log"
"$XPU_VENV/bin/python3" "$XPU_ROOT/tools/bench/plot_scale.py" "$out/$name.json" "$out/$name.png"
log "bench-scale: $out/$name.txt, $name.json, $name.png"
