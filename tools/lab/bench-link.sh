#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The cross-PU benchmark (a command, not a test): a host VM and a DPU VM joined both by xpu
# (the fabric's window) and by virtio-net (QEMU's socket netdev), compared in one run.
#   tools/lab/bench-link.sh [--rounds N] [--seconds S]
# Prints a table of virtio-net, xpu and xpu/virtio ratios, then one JSON line
# (tools/bench/link_vs_virtio.py). One vCPU per VM: two TCG guests share two cores. Runs on
# the perf flavour of the test kernel (XPU_KERNEL_FLAVOR=debug for the test kernel).
set -euo pipefail
. "$(dirname "$0")/common.sh"
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl -p xpu-fabric)

logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"
sock=$logdir/bench-link.fabric.sock flog=$logdir/bench-link.fabric.log
: >"$flog"
# A free TCP port on the loopback for the virtio-net socket netdev.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$XPU_ROOT/target/debug/xpu-fabric" -S "$sock" -l 8M -n 5 -v 2>>"$flog" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "xpu-fabric did not start (see $flog)"

vm() { # vm NAME NETDEV-OPTS CMD
	"$XPU_ROOT/tools/lab/vm.sh" --name "xpu-bench-$1" --cpus 1 --timeout 3000 \
		--fabric "$sock" --ivshmem 1 \
		--qemu-opts "-netdev socket,id=vn0,$2 -device virtio-net-pci,netdev=vn0" -- "$3"
}

# The host VM first: it takes fabric id 0 and listens for the virtio-net socket.
vm host "listen=127.0.0.1:$port" "modprobe xpu && python3 $XPU_ROOT/tools/bench/link_vs_virtio.py $*" &
pids+=($!)
host=$!
for _ in $(seq 600); do grep -q 'peer 0 connected' "$flog" && break; sleep 0.2; done
grep -q 'peer 0 connected' "$flog" || die "the host VM did not join the fabric (see $flog)"
vm dpu "connect=127.0.0.1:$port" "sh $XPU_ROOT/tools/bench/link_server.sh" >"$logdir/bench-link.dpu.out" 2>&1 &
pids+=($!)
dpu=$!
rc=0
wait "$host" || rc=$?
wait "$dpu" || true
exit "$rc"
