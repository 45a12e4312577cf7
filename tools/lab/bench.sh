#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark (a command, not a test): xpu pair mode against veth in one VM, same run.
#   tools/lab/bench.sh [--rounds N] [--seconds S]
# Prints a table of veth, xpu and xpu/veth ratios, then one JSON line (tools/bench/).
# It runs on the perf flavour of the test kernel (no lock, object or leak tracking; built
# and cached on first use), XPU_KERNEL_FLAVOR=debug to measure on the test kernel instead.
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl)
exec "$XPU_ROOT/tools/lab/vm.sh" --name xpu-bench --timeout 3000 -- \
	"python3 $XPU_ROOT/tools/bench/pair_vs_veth.py $*"
