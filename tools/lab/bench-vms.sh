#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The cross-PU benchmarks (commands, not tests): a host VM and a DPU VM joined both by xpu
# (the fabric's window) and by virtio-net (QEMU's socket netdev), each placement compared with
# the standard one in the same run.
#   tools/lab/bench-vms.sh link [--rounds N] [--seconds S] [--no-cxl]  (make bench-link)
#       the link against virtio-net: tools/bench/link_vs_virtio.py in the host VM, against
#       tools/bench/link_server.sh in the DPU VM; then the same with xpu's window in CXL
#       memory (both VMs' CXL memory devices are one file; --no-cxl leaves that out);
#   tools/lab/bench-vms.sh sidecar [--rounds N] [--seconds S] [--rate R]  (make bench-sidecar)
#       a pod's Envoy sidecar on the host half, on the DPU half over xpu, and on the DPU VM over
#       virtio-net: tools/bench/sidecar_half.py in each VM, driven by
#       tools/bench/sidecar_placements.py on this machine, whose load (wrk, hey) reaches the
#       DPU VM on a tap (xpub0, 10.99.0.1/24; the DPU VM is 10.99.0.2).
# Each prints a table of medians and ratios, then one JSON line. One vCPU per VM: two TCG
# guests share two cores. Runs on the perf flavour of the test kernel (XPU_KERNEL_FLAVOR=debug
# for the test kernel).
set -euo pipefail
. "$(dirname "$0")/common.sh"
which=${1:-}
shift || true
case "$which" in
link)
	host_cmd="python3 $XPU_ROOT/tools/bench/link_vs_virtio.py $*"
	dpu_cmd="sh $XPU_ROOT/tools/bench/link_server.sh"
	;;
sidecar)
	host_cmd="python3 $XPU_ROOT/tools/bench/sidecar_half.py host"
	dpu_cmd="python3 $XPU_ROOT/tools/bench/sidecar_half.py dpu"
	;;
*) die "usage: $0 link [--rounds N] [--seconds S] [--no-cxl] | sidecar [--rounds N] [--seconds S] [--rate R]" ;;
esac
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
if [ "$which" = sidecar ]; then "$XPU_ROOT/tools/lab/deps.sh" bench-sidecar; else "$XPU_ROOT/tools/lab/deps.sh"; fi
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl -p xpu-fabric)

logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"
sock=$logdir/bench-$which.fabric.sock flog=$logdir/bench-$which.fabric.log
: >"$flog"
# A free TCP port on the loopback for the virtio-net socket netdev.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=() tap="" cxl=()
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	[ -z "$tap" ] || ip link del "$tap" 2>/dev/null || true
	[ ${#cxl[@]} -eq 0 ] || rm -f "${cxl[1]}"
}
trap cleanup EXIT INT TERM
dpu_nic=""
if [ "$which" = sidecar ]; then
	# The node's network, where the load comes from: this machine, on a tap to the DPU VM,
	# which routes to the pod (10.244.1.0/24) and to its virtio-net link (10.1.0.0/24).
	tap=xpub0
	ip link del "$tap" 2>/dev/null || true
	ip tuntap add dev "$tap" mode tap || die "cannot create a tap device (needs root and /dev/net/tun)"
	ip addr add 10.99.0.1/24 dev "$tap"
	ip link set "$tap" up
	ip route add 10.244.1.0/24 via 10.99.0.2 dev "$tap"
	ip route add 10.1.0.0/24 via 10.99.0.2 dev "$tap"
	dpu_nic=" -netdev tap,id=up0,ifname=$tap,script=no,downscript=no"
	dpu_nic+=" -device virtio-net-pci,netdev=up0,mac=52:54:00:99:00:02"
fi

if [ "$which" = link ]; then
	# The CXL rows' medium: each VM's CXL memory device (tools/lab/vm.sh --cxl), in RAM.
	cxl=(--cxl "/dev/shm/xpu-bench-link.$$.mem")
	truncate -s 256M "${cxl[1]}" || die "cannot make the CXL medium ${cxl[1]}"
fi
"$XPU_ROOT/target/debug/xpu-fabric" -S "$sock" -l 8M -n 5 -v "${cxl[@]}" 2>>"$flog" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "xpu-fabric did not start (see $flog)"

vm() { # vm NAME NETDEV-OPTS CMD
	exec "$XPU_ROOT/tools/lab/vm.sh" --name "xpu-bench-$which-$1" --cpus 1 --timeout 3000 \
		--fabric "$sock" --ivshmem 1 "${cxl[@]}" \
		--qemu-opts "-netdev socket,id=vn0,$2 -device virtio-net-pci,netdev=vn0" -- "$3"
}

# The host VM first: it takes fabric id 0 and listens for the virtio-net socket. For the link,
# the host VM measures and prints to the terminal; the other outputs go to logs.
if [ "$which" = link ]; then
	vm host "listen=127.0.0.1:$port" "modprobe xpu && $host_cmd" &
else
	vm host "listen=127.0.0.1:$port" "modprobe xpu && $host_cmd" >"$logdir/bench-$which.host.out" 2>&1 &
fi
pids+=($!)
host=$!
for _ in $(seq 600); do grep -q 'peer 0 connected' "$flog" && break; sleep 0.2; done
grep -q 'peer 0 connected' "$flog" || die "the host VM did not join the fabric (see $flog)"
vm dpu "connect=127.0.0.1:$port$dpu_nic" "modprobe xpu && $dpu_cmd" >"$logdir/bench-$which.dpu.out" 2>&1 &
pids+=($!)
dpu=$!
rc=0
if [ "$which" = sidecar ]; then
	(cd "$XPU_ROOT/tools/bench" && XPU_BENCH_VM_PIDS="$host $dpu" python3 sidecar_placements.py "$@") ||
		rc=$?
	# On failure the VMs are stopped by cleanup; on success they stop once told "done".
	[ "$rc" = 0 ] || { log "bench-$which failed (exit $rc); logs in $logdir"; exit "$rc"; }
fi
# A host VM that failed leaves the DPU VM waiting for its "done": cleanup stops it.
wait "$host" || { rc=$?; log "bench-$which failed (exit $rc); logs in $logdir"; exit "$rc"; }
wait "$dpu" || rc=$?
[ "$rc" = 0 ] || log "bench-$which failed (exit $rc); logs in $logdir"
exit "$rc"
