#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The cost benchmark (a command, not a test): what a packet costs in guest instructions, xpu
# pair mode against veth and xpu's PCI mode (single-VM loop) against virtio-net, in one VM.
#   tools/lab/bench-cost.sh [--rounds N] [--seconds S] [--light F | --rate R] [--tcp-mb M]
#                           [--profile [TOP]]
#   (make bench-cost BENCH_ARGS=...)
# One vCPU under QEMU's -icount shift=0,sleep=on, FSRM off (XPU_INSN_QEMU in common.sh says
# why), with the xpu_insn plugin counting the guest's instructions (tools/bench/insn/, built
# here with gcc): the figures are instructions, whatever this machine's speed
# (tools/bench/cost.py says what it measures). The VM has two
# ivshmem-doorbell functions on one fabric (xpu's PCI loop) and two virtio-net functions joined
# by a QEMU socket netdev. Runs on the perf flavour of the test kernel. Writes
# target/bench/cost.{txt,json}.
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh" bench-cost
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl && cargo build -q --release -p xpu-rr)
out=$XPU_ROOT/target/bench
mkdir -p "$out"
plugin=$(insn_plugin)
# Where the plugin writes the counts the guest asks for (the guest sees this machine's root).
marks=$XPU_CACHE/vm-logs/insn-marks
rm -rf "$marks"
mkdir -p "$marks"
# A free TCP port on the loopback for the socket netdev: one function listens, the other
# connects, both in this VM's QEMU.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nics="-netdev socket,id=vc0,listen=127.0.0.1:$port -device virtio-net-pci,netdev=vc0,mac=52:54:00:c0:57:01"
nics+=" -netdev socket,id=vc1,connect=127.0.0.1:$port -device virtio-net-pci,netdev=vc1,mac=52:54:00:c0:57:02"
if ! "$XPU_ROOT/tools/lab/vm.sh" --name xpu-bench-cost --cpus 1 --timeout 5400 --ivshmem 2 \
	--qemu-opts "$XPU_INSN_QEMU -plugin $plugin,dir=$marks $nics" -- \
	"XPU_INSN_DIR=$marks XPU_RR=$XPU_ROOT/target/release/xpu-rr python3 $XPU_ROOT/tools/bench/cost.py $*" |
	tee "$out/cost.log"; then
	die "bench-cost: the benchmark failed (see $out/cost.log)"
fi
{ grep '^{' "$out/cost.log" || true; } | tail -n 1 >"$out/cost.json"
# --profile's Rust functions are mangled (v0) in the guest's perf: demangled here.
{ grep -v '^{' "$out/cost.log" || true; } | "$XPU_TOOLS/bin/rustfilt" >"$out/cost.txt"
[ -s "$out/cost.json" ] || die "bench-cost: no figures in $out/cost.log"
log "bench-cost: $out/cost.txt, cost.json"
