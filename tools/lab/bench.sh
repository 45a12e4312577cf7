#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark (a command, not a test): xpu pair mode against veth in one VM, same run.
#   tools/lab/bench.sh [--icount[=SHIFT]] [--rounds N] [--seconds S]
# Prints a table of veth, xpu and xpu/veth ratios, then one JSON line (tools/bench/).
#
# --icount: QEMU's icount mode (-icount shift=SHIFT,sleep=off; SHIFT 1 unless given). TCG runs
# the guest on one host thread and the guest's clock follows the instructions it executes,
# 2^SHIFT ns each, skipping idle time: throughput, latency and CPU time are then in guest time,
# a count of instructions, and repeat from run to run whatever else the machine is doing.
# Wall-clock TCG (the default) moves by a quarter between runs. 3 rounds of 2 s unless given.
# It runs on the perf flavour of the test kernel (no lock, object or leak tracking; built
# and cached on first use), XPU_KERNEL_FLAVOR=debug to measure on the test kernel instead.
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl)
vm=() args=()
for a in "$@"; do
	case $a in
	--icount | --icount=*)
		shift_=${a#--icount}
		shift_=${shift_#=}
		[[ ${shift_:-1} =~ ^[0-9]+$ ]] || die "bench: --icount=SHIFT takes a number, not '$shift_'"
		vm=(--qemu-opts "-icount shift=${shift_:-1},sleep=off")
		# Before the user's, so that theirs win.
		args=(--rounds 3 --seconds 2 --clock icount "${args[@]}")
		;;
	*) args+=("$a") ;;
	esac
done
exec "$XPU_ROOT/tools/lab/vm.sh" --name xpu-bench --timeout 3000 "${vm[@]}" -- \
	"python3 $XPU_ROOT/tools/bench/pair_vs_veth.py ${args[*]}"
