#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Peer loss by VM death, on two VMs: what the single-VM loop of kselftest/xpu_pci.sh cannot do.
# A host VM and a DPU VM join one fabric and connect; the DPU VM's QEMU is then killed
# (SIGKILL: its kernel writes nothing more). The fabric sees the socket close, marks that half
# Down and rings the host's control vector: the host side's carrier must go down within 1 s,
# its TX must not stay stuck, and when a new DPU VM joins, the link must come back by itself.
#
# The host guest times the drop from the moment it asks for the kill (a console line this
# script waits for): an upper bound of the real delay, which also holds the console's latency.
#
# XPU_MEDIUM=cxl: the same over CXL memory. Both VMs' CXL memory devices are one file, the
# window is a region of it (modprobe xpu $(xpuctl cxl window)), and the fabric, which carries
# only the doorbells then, marks the killed side Down in that file (xpu-fabric --cxl).
# Prints one KTAP line; exits non-zero on failure.
set -uo pipefail
. "$(dirname "$0")/common.sh"

medium=${XPU_MEDIUM:-bar} cxl=() load='modprobe xpu' run=peerloss what="peer loss"
[ "$medium" = cxl ] && run=peerloss-cxl what="peer loss over CXL memory"
logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"
sock=$logdir/$run.fabric.sock
flog=$logdir/$run.fabric.log
hlog=$logdir/$run.host.out
: >"$flog"
: >"$hlog"
pids=()
# The VMs (vm.sh stops its QEMU on SIGTERM) and the fabric; waited for, so that no VM outlives
# the script (the second DPU VM would otherwise sleep on for 15 minutes).
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	[ -z "${cxl_file:-}" ] || rm -f "$cxl_file"
}
trap cleanup EXIT INT TERM

result() { # result ok|not-ok [message]: the KTAP line, and the exit status
	[ -n "${2:-}" ] && echo "# $2"
	if [ "$1" = ok ]; then
		echo "ok 1 $what: the DPU VM killed, the host's carrier down within 1 s, the link back with a new DPU VM"
		exit 0
	fi
	echo "not ok 1 $what: the DPU VM killed, the host's carrier down within 1 s, the link back with a new DPU VM"
	echo "# logs: $logdir/$run.*"
	exit 1
}

case $medium in
bar) ;;
cxl)
	cxl_file=/dev/shm/xpu-$run.$$.mem
	truncate -s 256M "$cxl_file" || result not-ok "cannot make the CXL medium $cxl_file"
	cxl=(--cxl "$cxl_file")
	load='modprobe xpu $(xpuctl cxl window)' ;;
*) result not-ok "XPU_MEDIUM=$medium: the media are bar (the default: the ivshmem BAR) and cxl" ;;
esac

"$XPU_ROOT/target/debug/xpu-fabric" -S "$sock" -l 8M -n 5 -v "${cxl[@]}" 2>>"$flog" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || result not-ok "xpu-fabric did not start"

# Each VM gets one CPU: two TCG guests share this machine's two cores. A DPU VM stays up until
# it is killed. kmemleak=off: nothing here asks it (as tools/lab/pod-vms.sh says).
vm() { # vm NAME QEMU_OPTS SCRIPT (exec: the background job's pid is vm.sh's own)
	exec "$XPU_ROOT/tools/lab/vm.sh" --name "xpu-$run-$1" --cpus 1 --timeout 900 \
		--append kmemleak=off --fabric "$sock" --ivshmem 1 "${cxl[@]}" --qemu-opts "$2" -- "$3"
}
side_up="$load || exit 1"'
dev=$(ls /sys/bus/pci/drivers/xpu/*/net) && ip link set "$dev" name xpu0 || exit 1
udevadm settle	# the MAC address udev gives the renamed device (MACAddressPolicy)
ip addr add "$ADDR/24" dev xpu0 && ip link set xpu0 up || exit 1'
[ "$medium" = bar ] || side_up+='
dmesg | grep -q "xpu: CXL mode, window" || { echo "peerloss: FAIL: xpu is not in CXL mode"; exit 1; }'
dpu_script="ADDR=10.0.0.2
$side_up
echo peerloss: dpu up, mac \$(cat /sys/class/net/xpu0/address)
sleep 900"

# The host side: connect, ping, ask for the kill and time the carrier drop (carrier_down_count
# is bumped by netif_carrier_off() and read without RTNL), then wait for the new DPU VM.
vm host "" "ADDR=10.0.0.1
$side_up
$(cat <<'GUEST'
carrier_wait() { # carrier_wait SECONDS
	i=0
	until [ "$(cat /sys/class/net/xpu0/carrier)" = 1 ]; do
		i=$((i + 1)); [ $i -lt $(($1 * 5)) ] || return 1; sleep 0.2
	done
}
echo "peerloss: host mac $(cat /sys/class/net/xpu0/address)"
carrier_wait 300 || { echo "peerloss: FAIL: no carrier"; xpuctl link show xpu0; exit 1; }
i=0; until ping -q -c 1 -W 1 10.0.0.2 >/dev/null; do
	i=$((i + 1)); [ $i -lt 30 ] || { echo "peerloss: FAIL: no ping across"; exit 1; }
done
ping -q -i 0.01 -w 60 10.0.0.2 >/dev/null 2>&1 &
pinger=$!
python3 -u -c '
import sys, time
f = "/sys/class/net/xpu0/carrier_down_count"
c0 = open(f).read()
t0 = time.monotonic()
print("peerloss: kill the DPU now", flush=True)
while open(f).read() == c0 and time.monotonic() < t0 + 30:
    time.sleep(0.002)
if open(f).read() == c0:
    sys.exit("peerloss: FAIL: carrier still up 30 s after the kill was asked for")
else:
    print(f"peerloss: carrier down {(time.monotonic() - t0) * 1000:.0f} ms after the kill was asked for")
' || exit 1
i=0; until xpuctl link show xpu0 | grep -q 'link waiting'; do
	i=$((i + 1)); [ $i -lt 50 ] || { echo "peerloss: FAIL: status $(xpuctl link show xpu0)"; exit 1; }
	sleep 0.2
done
echo "peerloss: status: $(xpuctl link show xpu0)"
echo "peerloss: waiting for a new DPU VM"
carrier_wait 300 || { echo "peerloss: FAIL: the link did not come back"; xpuctl link show xpu0; exit 1; }
i=0; until ping -q -c 1 -W 1 10.0.0.2 >/dev/null; do
	i=$((i + 1)); [ $i -lt 30 ] || { echo "peerloss: FAIL: no ping after the return"; exit 1; }
done
kill "$pinger" 2>/dev/null
# TX is not stuck: a few megabytes cross (the sent count is what TX put in the rings).
t0=$(cat /sys/class/net/xpu0/statistics/tx_bytes)
out=$(ping -q -c 200 -i 0.005 -s 8000 10.0.0.2) || {
	echo "peerloss: FAIL: pings lost after the return: $(echo "$out" | grep transmitted);" \
		"counters: $(ethtool -S xpu0 | grep -v ': 0$' | tr -s ' \n' ' ')"
	echo "peerloss: nstat: $(nstat -az | grep -E 'Reasm|Icmp|Frag' | tr -s ' \n' ' ')"
	echo "peerloss: status: $(xpuctl link show xpu0)"
	echo "peerloss: neighbours: $(ip neigh show dev xpu0)"
	ping -c 3 -W 1 10.0.0.2; ping -c 3 -W 1 -s 8000 10.0.0.2; ip -s link show xpu0; dmesg | tail -20
	exit 1
}
echo "peerloss: after the return, $(( $(cat /sys/class/net/xpu0/statistics/tx_bytes) - t0 )) bytes sent, 200 pings answered"
dmesg | grep -E 'WARNING|BUG|Oops|Call Trace' && { echo "peerloss: FAIL: the kernel complained"; exit 1; }
echo "peerloss: done"
GUEST
)" >"$hlog" 2>&1 &
host=$!
pids+=($host)
for _ in $(seq 900); do grep -q 'peer 0 connected' "$flog" && break; sleep 0.2; done
grep -q 'peer 0 connected' "$flog" || result not-ok "the host VM did not join the fabric"

dpu_pid=$logdir/$run.dpu.qemu.pid
rm -f "$dpu_pid"
vm dpu "-pidfile $dpu_pid" "$dpu_script" >"$logdir/$run.dpu.out" 2>&1 &
pids+=($!)

# The kill, as soon as the host guest asks for it.
deadline=$((SECONDS + 900))
until grep -q 'peerloss: kill the DPU now' "$hlog"; do
	kill -0 "$host" 2>/dev/null || result not-ok "host VM: $(grep -m1 'peerloss: FAIL' "$hlog")"
	[ $SECONDS -lt $deadline ] || result not-ok "the host never connected"
	sleep 0.02
done
[ -s "$dpu_pid" ] || result not-ok "no QEMU pid file for the DPU VM"
kill -KILL "$(cat "$dpu_pid")" || result not-ok "cannot kill the DPU VM"
log "$what: killed the DPU VM (QEMU pid $(cat "$dpu_pid"))"

# A new DPU VM joins once the host side says it is waiting.
until grep -q 'peerloss: waiting for a new DPU VM' "$hlog"; do
	kill -0 "$host" 2>/dev/null || break
	sleep 0.2
done
rm -f "$dpu_pid"
vm dpu2 "-pidfile $dpu_pid" "$dpu_script" >"$logdir/$run.dpu2.out" 2>&1 &
pids+=($!)
wait "$host"
rc=$?
grep '^peerloss: ' "$hlog" | sed 's/^peerloss: /# /'
[ "$rc" = 0 ] && grep -q '^peerloss: done' "$hlog" || result not-ok "host VM exit $rc"
# Two machines, two MAC addresses: udev derives a renamed device's from the machine-id, and
# both ends are named xpu0 (a shared id gave both the same address, tools/lab/guest-setup.sh).
mac=$(sed -n 's/^peerloss: host mac //p' "$hlog")
[ -n "$mac" ] && grep -q "^peerloss: dpu up, mac $mac" "$logdir/$run".dpu*.out &&
	result not-ok "the host and a DPU VM have the same MAC address ($mac)"
ms=$(sed -n 's/^peerloss: carrier down \([0-9]*\) ms.*/\1/p' "$hlog")
[ -n "$ms" ] && [ "$ms" -le 1000 ] || result not-ok "the carrier took ${ms:-?} ms to go down (at most 1 s)"
result ok
