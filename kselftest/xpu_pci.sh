#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PCI mode on the single-VM loop: two ivshmem-doorbell functions on one fabric in one VM
# (tools/lab/vm.sh --ivshmem 2), so xpu.ko binds both, one as the host side and one as the DPU
# side, each in its own namespace. Packets cross the shared window with doorbells; a side that
# leaves takes the other's carrier down within a second and the link comes back by itself; a
# peer with another protocol version or configuration is refused, and says so.
#
# XPU_MEDIUM=cxl (kselftest/xpu_cxl.sh, in a VM of tools/lab/vm.sh --ivshmem 2 --cxl FILE): the
# same cases in CXL mode, the window in the CXL memory device's region, the functions for their
# doorbells only; and bad windows refused.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

PEER=$XPU_DIR/xpu_peer.py
H= D= HDEV= DDEV=
ADDR_H=10.98.0.1 ADDR_D=10.98.0.2

# bdf_dev BDF: the netdev of PCI function BDF (in whichever namespace it is, if in init_net).
bdf_dev() {
	ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n1
}

carrier() { # carrier NS DEV
	ip netns exec "$1" cat "/sys/class/net/$2/carrier" 2>/dev/null
}

# setup_pci: both sides in namespaces of their own ($H, $D), addressed, up, and connected.
setup_pci() {
	pci_sides
	H=$(xpu_netns h) && D=$(xpu_netns d) || fail "cannot create namespaces"
	ip link set "$HDEV" netns "$H" && ip link set "$DDEV" netns "$D" || fail "netns move failed"
	ip -n "$H" addr add $ADDR_H/24 dev "$HDEV"
	ip -n "$D" addr add $ADDR_D/24 dev "$DDEV"
	ip netns exec "$H" sysctl -qw "net.ipv6.conf.$HDEV.disable_ipv6=1"
	ip netns exec "$D" sysctl -qw "net.ipv6.conf.$DDEV.disable_ipv6=1"
	ip -n "$H" link set "$HDEV" up
	ip -n "$D" link set "$DDEV" up
	slowwait 10 sh -c "[ \"\$(ip netns exec $H cat /sys/class/net/$HDEV/carrier)\" = 1 ]" ||
		fail "no carrier after both sides came up: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	slowwait 10 ip netns exec "$H" ping -q -c 1 -W 1 $ADDR_D >/dev/null ||
		fail "no connectivity across the window"
}

iperf_bytes() { # iperf_bytes CLIENT_NS SERVER_NS SERVER_ADDR SECONDS
	local out
	ip netns exec "$2" iperf3 -s -1 -D -p 5201 >/dev/null || fail "iperf3 -s failed"
	slowwait 5 sh -c "ip netns exec $2 ss -ltn | grep -q ':5201 '" || fail "iperf3 server not listening"
	out=$(ip netns exec "$1" timeout $(($4 + 30)) iperf3 -c "$3" -p 5201 -t "$4" -J) ||
		fail "iperf3 to $3 failed: $(echo "$out" | grep -m1 '"error"')"
	echo "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["end"]["sum_received"]["bytes"])'
}

test_probe() {
	local fns n d ring ver id
	fns=$(ivshmem_fns)
	n=$(echo "$fns" | grep -c .)
	[ "$n" = 2 ] || skip "needs two ivshmem-doorbell functions on one fabric (found $n; tools/lab/vm.sh --ivshmem 2)"
	# shellcheck disable=SC2086 # words
	modprobe xpu $XPU_MODPARAMS || fail "modprobe xpu $XPU_MODPARAMS failed"
	for d in $fns; do
		slowwait 10 test -n "$(bdf_dev "$d")" || fail "no netdev for $d"
		basename "$(readlink "/sys/bus/pci/devices/$d/driver")" | grep -qx xpu || fail "$d is not bound to xpu"
	done
	HDEV=$(role_dev "" host) && DDEV=$(role_dev "" dpu) || fail "no host-side and DPU-side netdevs"
	# The protocol's version, major.minor, as uapi/src/shm.rs has it (xpu_shm.py is made from it).
	ver=$(python3 -c "import sys; sys.path.insert(0, '$XPU_DIR'); import xpu_shm as s; \
		print(f'{s.VERSION >> 16}.{s.VERSION & 0xffff}')") || fail "cannot read xpu_shm.py's VERSION"
	ethtool -i "$HDEV" | grep -q "^firmware-version: shm $ver role host" ||
		fail "ethtool -i $HDEV does not show shm $ver and the host role: $(ethtool -i "$HDEV" | grep firmware)"
	ethtool -i "$DDEV" | grep -q "^firmware-version: shm $ver role dpu" ||
		fail "ethtool -i $DDEV does not show shm $ver and the dpu role"
	ethtool -i "$HDEV" | grep -q "^bus-info: $(echo "$fns" | head -n1)" || fail "ethtool -i: wrong bus-info"
	ip -d link show "$HDEV" | grep -q 'portname host parentbus pci' || fail "ip -d link does not show the role"
	xpuctl link show "$HDEV" | grep -q "role host" || fail "xpuctl link show: $(xpuctl link show "$HDEV")"
	# The link's number: drawn by the host side, read by the DPU side from the host's header;
	# the same at both ends, which is how a pod's halves find the two ends of one link.
	id=$(xpuctl link show --json "$HDEV" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("link_id", ""))')
	echo "$id" | grep -qx '[0-9a-f]\{8\}' && [ "$id" != 00000000 ] ||
		fail "xpuctl link show $HDEV gives no link number: $(xpuctl link show --json "$HDEV")"
	xpuctl link show "$DDEV" | grep -q " id $id\$" ||
		fail "the DPU side's link number is not the host's ($id): $(xpuctl link show "$DDEV")"
	# ethtool -g: the ring size the window's layout gave, as xpuctl shows it.
	ring=$(xpuctl link show "$HDEV" | sed -n 's/.*ring-size \([0-9]*\).*/\1/p')
	[ -n "$ring" ] && [ "$(ethtool -g "$HDEV" | grep -cE "^(RX|TX):[[:space:]]+$ring\$")" = 4 ] ||
		fail "ethtool -g $HDEV does not show ring size '$ring': $(ethtool -g "$HDEV" 2>&1)"
	if [ "$MEDIUM" = cxl ]; then
		# The window is the CXL range, claimed in the resource tree inside the region; no
		# function's BAR is.
		# (/proc/iomem indents a child two columns deeper than its parent.)
		awk -v b="${CXL_BASE#0x}" '
			$NF == "xpu" && $1 ~ "^" b "-" { ind = match($0, /[^ ]/); ok = prev ~ /: region[0-9]+$/ && ind == pind + 2 }
			{ prev = $0; pind = match($0, /[^ ]/) } END { exit !ok }' /proc/iomem ||
			fail "no 'xpu' claim at $CXL_BASE right under a region in /proc/iomem: $(grep -B2 -A2 xpu /proc/iomem)"
		# (-i: ndctl lists a region no driver holds, as xpuctl leaves it, only as idle.)
		cxl list -R -i 2>/dev/null | grep -q '"region": *"region[0-9]*"' ||
			fail "cxl list -R -i does not show the region: $(cxl list -R -i 2>&1)"
		dmesg | grep -q "xpu: CXL mode, window $CXL_BASE+$CXL_SIZE" || fail "dmesg does not name the CXL window"
		[ "$(dmesg | grep -c "$(printf '%d' "$CXL_SIZE")-byte CXL window")" -ge 2 ] ||
			fail "the functions did not both take the CXL window: $(dmesg | grep 'byte .* window')"
	fi
	# A PCI function's netdev goes away with the function, not by ip link del.
	ip link del "$HDEV" 2>/dev/null && fail "ip link del removed a PCI-mode netdev"
	ip link show "$HDEV" >/dev/null || fail "$HDEV is gone"
}

test_ping_iperf() {
	local dir from srv to dev got rx0 rx1
	setup_pci
	ip netns exec "$H" ping -q -c 5 -i 0.2 $ADDR_D >/dev/null || fail "ping host -> dpu failed"
	ip netns exec "$D" ping -q -c 5 -i 0.2 $ADDR_H >/dev/null || fail "ping dpu -> host failed"
	ip netns exec "$H" ping -q -c 3 -i 0.2 -s 8000 $ADDR_D >/dev/null || fail "ping -s 8000 failed"
	for dir in HD DH; do
		if [ $dir = HD ]; then from=$H srv=$D to=$ADDR_D dev=$DDEV; else from=$D srv=$H to=$ADDR_H dev=$HDEV; fi
		rx0=$(stat "$srv" "$dev" rx_bytes)
		got=$(iperf_bytes "$from" "$srv" "$to" 3) || exit 1
		rx1=$(stat "$srv" "$dev" rx_bytes)
		echo "$dir: iperf3 received $got bytes; the receiver counted $((rx1 - rx0))"
		[ "$got" -gt 1000000 ] || fail "$dir: only $got bytes crossed"
		[ $((rx1 - rx0)) -ge "$got" ] || fail "$dir: receiver counted fewer bytes than iperf3 got"
	done
	for d in "$H $HDEV" "$D $DDEV"; do
		set -- $d
		[ "$(stat "$1" "$2" rx_errors)" = 0 ] || fail "$2 saw bad descriptors"
	done
	ip netns exec "$H" ethtool -S "$HDEV" | grep -qE 'tx[0-9]+_doorbells: [1-9]' || fail "no doorbells counted"
}

# ethtool -G across the window: the DPU side asks the host side for at most 8 descriptors in
# flight on its rings (its rx depth, published in its consumer lines), the host side keeps at
# most 16 on its own (tx); TCP flows; a down/up of the DPU side (a ring reset and a new
# handshake) keeps what was set.
test_ringparam() {
	local got max
	setup_pci
	max=$(ring_depths "$D" "$DDEV" | cut -d' ' -f1)
	ip netns exec "$D" ethtool -G "$DDEV" rx 8 || fail "ethtool -G $DDEV rx 8 failed"
	ip netns exec "$H" ethtool -G "$HDEV" tx 16 || fail "ethtool -G $HDEV tx 16 failed"
	got=$(iperf_bytes "$H" "$D" $ADDR_D 2) || exit 1
	[ "$got" -gt 100000 ] || fail "host -> DPU at depth 8: only $got bytes"
	ip -n "$D" link set "$DDEV" down && ip -n "$D" link set "$DDEV" up || fail "down/up failed"
	slowwait 20 ip netns exec "$H" ping -q -c 1 -W 1 $ADDR_D >/dev/null ||
		fail "no ping after the DPU side's down/up"
	[ "$(ring_depths "$D" "$DDEV")" = "$max $max 8 $max" ] ||
		fail "$DDEV: ethtool -g shows $(ring_depths "$D" "$DDEV") after down/up"
	[ "$(ring_depths "$H" "$HDEV")" = "$max $max $max 16" ] ||
		fail "$HDEV: ethtool -g shows $(ring_depths "$H" "$HDEV")"
	got=$(iperf_bytes "$H" "$D" $ADDR_D 2) || exit 1
	[ "$got" -gt 100000 ] || fail "host -> DPU after down/up: only $got bytes"
}

# Native XDP on the DPU side (xpu_xdp.bpf.c, as xpu_xdp.sh runs it on a pair): replies by
# XDP_TX and by XDP_REDIRECT (through ndo_xdp_xmit) cross the window back, drops are counted.
# The other kernel's GSO packets are not ours to bound: they run the program as skbs.
test_xdp() {
	local prog=$XPU_DIR/xpu_xdp.bpf.o got n=30 c
	setup_pci
	[ -f "$prog" ] || fail "$prog was not built (clang, libbpf-dev)"
	ip -n "$D" link set "$DDEV" xdpdrv obj "$prog" sec xdp || fail "attaching natively failed"
	ip -n "$D" -j -d link show "$DDEV" | grep -q '"xdp":{"mode":1' ||
		fail "not attached natively"
	got=$(udp_echoes "$H" $ADDR_H $ADDR_D 9002 $n 64)
	[ "$got" = $n ] || fail "XDP_TX: $got of $n replies"
	got=$(udp_echoes "$H" $ADDR_H $ADDR_D 9003 $n 1000)
	[ "$got" = $n ] || fail "XDP_REDIRECT: $got of $n replies"
	got=$(udp_echoes "$H" $ADDR_H $ADDR_D 9001 $n 64)
	[ "$got" = 0 ] || fail "XDP_DROP: $got replies"
	for c in "rx xdp_tx $n" "rx xdp_redirect $n" "rx xdp_drop $n" "tx xdp_xmit $((2 * n))"; do
		set -- $c
		[ "$(estat "$D" "$DDEV" "$1[0-9]+_$2")" = "$3" ] || fail "$1 $2 is not $3"
	done
	got=$(iperf_bytes "$H" "$D" $ADDR_D 2) || exit 1
	[ "$got" -gt 100000 ] || fail "TCP through the program: only $got bytes"
	[ "$(estat "$D" "$DDEV" 'rx[0-9]+_xdp_generic')" -gt 0 ] ||
		fail "no GSO packet ran the program as an skb (is the host side's TSO off?)"
	ip -n "$D" link set "$DDEV" xdpdrv off || fail "detaching failed"
	got=$(udp_echoes "$H" $ADDR_H $ADDR_D 9002 5 64)
	[ "$got" = 0 ] || fail "replies with the program detached"
}

# napi_irqs NS DEV: each of DEV's NAPIs reports an IRQ, one of its own function's queue
# vectors (its MSI-X IRQs that /proc/interrupts names xpu-queue), no two the same (what ynl's
# napi-get dump says).
napi_irqs() {
	local napis msi
	napis=$(netdev "$1" --dump napi-get --json "{\"ifindex\": $(ifindex "$1" "$2")}") || return 1
	msi=$(ip netns exec "$1" ls "/sys/class/net/$2/device/msi_irqs") || return 1
	python3 - "$napis" "$msi" <<'PY'
import ast, sys
napis, msi = ast.literal_eval(sys.argv[1]), {int(i) for i in sys.argv[2].split()}
named = {int(line.split(":")[0]) for line in open("/proc/interrupts")
         if line.rstrip().endswith(" xpu-queue")}
irqs = [n.get("irq") for n in napis]
print(f"NAPIs {[n['id'] for n in napis]}: IRQs {irqs}; the function's queue IRQs {sorted(msi & named)}")
if not napis:
    sys.exit("no NAPIs")
if any(i not in msi & named for i in irqs):
    sys.exit("a NAPI reports no IRQ, or one that is not a queue vector of its function")
if len(set(irqs)) != len(irqs):
    sys.exit("two NAPIs report the same IRQ")
PY
}

# Each NAPI is linked to the MSI-X vector of its queue's doorbells (netif_napi_set_irq), so the
# netdev family shows it and busy polling can defer it; and again after a down/up (whose
# reconnect lists the NAPIs anew: the check waits for it).
test_napi_irqs() {
	local got
	need_ynl
	setup_pci
	got=$(napi_irqs "$H" "$HDEV") || fail "$HDEV: $got"
	echo "$got"
	ip -n "$H" link set "$HDEV" down
	ip -n "$H" link set "$HDEV" up
	slowwait 10 napi_irqs "$H" "$HDEV" >/dev/null || fail "$HDEV after down/up: $(napi_irqs "$H" "$HDEV")"
	slowwait 10 napi_irqs "$D" "$DDEV" >/dev/null || fail "$DDEV: $(napi_irqs "$D" "$DDEV")"
}

# The DPU side's function leaves (as its driver unloading does): the host side's carrier goes
# down within a second, with traffic in flight; the function comes back: so does the link.
test_peer_leaves_and_returns() {
	local bdf t0 ms got pinger watcher
	setup_pci
	bdf=$(basename "$(ip netns exec "$D" readlink -f "/sys/class/net/$DDEV/device")")
	ip netns exec "$H" ping -q -i 0.01 -w 30 $ADDR_D >/dev/null 2>&1 &
	pinger=$!
	sleep 1
	# The unbind returns only when the function's teardown is done; a watcher times the drop
	# itself. It reads carrier_down_count, which netif_carrier_off() bumps the moment it runs:
	# the carrier file takes RTNL, which the unbinding side holds for a while, and would time
	# that instead. Python starts slowly under TCG (seconds), so the unbind waits until the
	# watcher has its first reading; it looks every 2 ms rather than spinning, so as not to
	# starve QEMU's event loop, which delivers the doorbell.
	rm -f "$TMPDIR_PCI/ready"
	ip netns exec "$H" python3 -c "
import time
f = '/sys/class/net/$HDEV/carrier_down_count'
c0 = open(f).read()
open('$TMPDIR_PCI/ready', 'w').close()
end = time.time() + 20
while open(f).read() == c0 and time.time() < end:
    time.sleep(0.002)
print(time.time() if open(f).read() != c0 else 'never')" >"$TMPDIR_PCI/down" &
	watcher=$!
	slowwait 30 test -e "$TMPDIR_PCI/ready" || fail "the carrier watcher did not start"
	t0=$EPOCHREALTIME
	echo "$bdf" >/sys/bus/pci/drivers/xpu/unbind || fail "unbind $bdf failed"
	wait "$watcher"
	[ "$(cat "$TMPDIR_PCI/down")" != never ] ||
		fail "host side kept its carrier for 20 s after the DPU side left"
	ms=$(awk -v a="$t0" -v b="$(cat "$TMPDIR_PCI/down")" 'BEGIN { printf "%d", (b - a) * 1000 }')
	echo "carrier down $ms ms after the unbind began"
	[ "$ms" -le 1000 ] || fail "carrier took $ms ms to go down (at most 1 s)"
	# Readers that take RTNL (the carrier file, ip link) see it once the teardown lets them.
	slowwait 10 sh -c "[ \"\$(ip netns exec $H cat /sys/class/net/$HDEV/carrier)\" = 0 ]" ||
		fail "the carrier file still says 1"
	slowwait 5 sh -c "ip netns exec $H xpuctl link show $HDEV | grep -q 'link waiting'" ||
		fail "status: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	echo "$bdf" >/sys/bus/pci/drivers/xpu/bind || fail "bind $bdf failed"
	slowwait 10 test -n "$(bdf_dev "$bdf")" || fail "no netdev after rebinding $bdf"
	DDEV=$(bdf_dev "$bdf")
	ip link set "$DDEV" netns "$D"
	ip -n "$D" addr add $ADDR_D/24 dev "$DDEV"
	ip -n "$D" link set "$DDEV" up
	slowwait 10 sh -c "[ \"\$(ip netns exec $H cat /sys/class/net/$HDEV/carrier)\" = 1 ]" ||
		fail "the link did not come back: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	slowwait 10 ip netns exec "$H" ping -q -c 1 -W 1 $ADDR_D >/dev/null || fail "no ping after the return"
	got=$(iperf_bytes "$H" "$D" $ADDR_D 2) || exit 1
	[ "$got" -gt 100000 ] || fail "TX stuck after the return: $got bytes"
	kill "$pinger" 2>/dev/null
	wait
}

# Down/up of one side is a restart: the other follows, and the link comes back.
test_down_up() {
	setup_pci
	ip -n "$D" link set "$DDEV" down
	slowwait 2 sh -c "[ \"\$(ip netns exec $H cat /sys/class/net/$HDEV/carrier)\" = 0 ]" ||
		fail "host side kept its carrier while the DPU side was down"
	ip -n "$D" link set "$DDEV" up
	slowwait 10 ip netns exec "$H" ping -q -c 1 -W 1 $ADDR_D >/dev/null || fail "no ping after down/up"
}

# Module unload with both sides up and traffic flowing, then load again.
test_unload_reload() {
	setup_pci
	ip netns exec "$H" ping -q -i 0.01 -w 20 $ADDR_D >/dev/null 2>&1 &
	local pinger=$!
	sleep 1
	modprobe -r xpu || fail "modprobe -r xpu failed"
	kill "$pinger" 2>/dev/null
	wait
	[ -d /sys/module/xpu ] && fail "xpu still loaded"
	xpu_del_netns
	setup_pci
}

# mismatch ARGS...: the DPU side's function, unbound, is played by xpu_peer.py with ARGS; the
# host side must keep its carrier down and say why ($WANT in dmesg, $STATUS in xpuctl).
mismatch() {
	local bdf
	setup_pci
	bdf=$(basename "$(ip netns exec "$D" readlink -f "/sys/class/net/$DDEV/device")")
	echo "$bdf" >/sys/bus/pci/drivers/xpu/unbind || fail "unbind $bdf failed"
	slowwait 5 sh -c "[ \"\$(ip netns exec $H cat /sys/class/net/$HDEV/carrier)\" = 0 ]" ||
		fail "carrier stayed up without a peer"
	dmesg_mark
	python3 "$PEER" "$bdf" $PEER_WINDOW header "$@" || fail "xpu_peer.py failed"
	slowwait 5 sh -c "ip netns exec $H xpuctl link show $HDEV | grep -q 'link mismatch'" ||
		fail "no mismatch reported: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	ip netns exec "$H" xpuctl link show "$HDEV" | grep -q "$STATUS" ||
		fail "status: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	dmesg_since | grep -q "$WANT" || fail "dmesg does not say '$WANT'"
	[ "$(carrier "$H" "$HDEV")" = 0 ] || fail "carrier came up with a mismatched peer"
	# A peer that gets it right is accepted.
	python3 "$PEER" "$bdf" $PEER_WINDOW header --state ready --gen 7 || fail "xpu_peer.py failed"
	slowwait 5 sh -c "ip netns exec $H xpuctl link show $HDEV | grep -q 'waiting for the peer to come up'" ||
		fail "a matching peer was not accepted: $(ip netns exec "$H" xpuctl link show "$HDEV")"
	python3 "$PEER" "$bdf" $PEER_WINDOW down || fail "xpu_peer.py down failed"
	echo "$bdf" >/sys/bus/pci/drivers/xpu/bind || fail "bind $bdf failed"
}

test_version_mismatch() {
	WANT="peer speaks another protocol version" STATUS="another protocol version" \
		mismatch --version 0x20000
}

test_config_mismatch() {
	WANT="peer has 2 queues of 256 descriptors" STATUS="another queue count" \
		mismatch --queues 2
}

# The DPU side's window half is scribbled on (random indices and descriptors, doorbells on
# random vectors) while traffic flows both ways: the host side counts the violations, drops,
# resets the link when they persist, does not oops, WARN or hang, and the link recovers once
# the scribbling stops. Twice: the second time the host side has rx-checksumming off, so that
# it writes the partial checksums of what passes for a packet (xpu_peer.py makes some).
test_hostile_peer() {
	local bdf pingers=() v v0 r r0 rx seed=1
	setup_pci
	bdf=$(basename "$(ip netns exec "$D" readlink -f "/sys/class/net/$DDEV/device")")
	ip netns exec "$H" ping -q -i 0.01 -w 90 $ADDR_D >/dev/null 2>&1 &
	pingers+=($!)
	ip netns exec "$D" ping -q -i 0.01 -s 1400 -w 90 $ADDR_H >/dev/null 2>&1 &
	pingers+=($!)
	for rx in on off; do
		ip netns exec "$H" ethtool -K "$HDEV" rx $rx || fail "ethtool -K rx $rx failed"
		sleep 1
		v0=$(estat "$H" "$HDEV" '(rx|tx)[0-9]+_peer_errors')
		r0=$(estat "$H" "$HDEV" link_resets_by_violations)
		python3 "$PEER" "$bdf" $PEER_WINDOW hostile --seconds 5 --seed $seed || fail "xpu_peer.py hostile failed"
		seed=$((seed + 1))
		v=$(($(estat "$H" "$HDEV" '(rx|tx)[0-9]+_peer_errors') - v0))
		r=$(($(estat "$H" "$HDEV" link_resets_by_violations) - r0))
		echo "host side, rx-checksumming $rx: $v violations counted, $r link resets"
		[ "$v" -gt 0 ] || fail "no violation counted"
		[ "$r" -gt 0 ] || fail "the link was never reset"
		slowwait 30 ip netns exec "$H" ping -q -c 1 -W 1 $ADDR_D >/dev/null ||
			fail "no recovery after the peer stopped: $(ip netns exec "$H" xpuctl link show "$HDEV")"
		slowwait 10 ip netns exec "$D" ping -q -c 1 -W 1 $ADDR_H >/dev/null ||
			fail "no recovery DPU -> host"
	done
	kill "${pingers[@]}" 2>/dev/null
	wait
}

# The DPU side's event indices (where it asks to be rung) are scribbled to say "never" while
# the link is idle: its receive path sleeps and nothing would wake it; a trickle of traffic
# never fills the ring, so the TX watchdog never fires either. The host side rings it anyway
# once its packets have waited a second unread, and counts that in doorbells_overdue.
test_event_index_stuck() {
	local bdf n
	setup_pci
	bdf=$(basename "$(ip netns exec "$D" readlink -f "/sys/class/net/$DDEV/device")")
	sleep 1
	python3 "$PEER" "$bdf" $PEER_WINDOW poke cons-event 0x7fffffff || fail "xpu_peer.py poke failed"
	# Every ping on one TX queue (one flow, which the peer's RSS puts on one ring; and from one
	# CPU, which XPS would put on one queue for a peer without RSS): the poke stuck every queue,
	# and each needs its own overdue doorbell, a second after its first unanswered packet, before
	# its peer re-arms. Five pings in 0.8 s from a queue not yet rung would all be lost (as a CI
	# run whose two pings ran on different CPUs found).
	slowwait 15 ip netns exec "$H" taskset -c 0 ping -q -c 1 -W 1 $ADDR_D >/dev/null ||
		fail "no ping across with the peer's event indices stuck: $(ip netns exec "$H" ethtool -S "$HDEV" | grep -E 'tx[0-9]+_doorbells' | tr -s ' \n' ' ')"
	n=$(estat "$H" "$HDEV" 'tx[0-9]+_doorbells_overdue')
	echo "host side rang $n overdue doorbells"
	[ "$n" -gt 0 ] || fail "the ping crossed, but no overdue doorbell was counted"
	ip netns exec "$H" taskset -c 0 ping -q -c 5 -i 0.2 -W 1 $ADDR_D >/dev/null ||
		fail "the link did not stay working (the queue rung overdue was re-armed by its peer)"
}

# Bug (a) of issue 13: a control work queued while the device goes away (by the TX watchdog, or
# a violation its last poll counts) must not run once the device is freed. Fault injection
# (debugfs xpu/ctrl_late) queues it when the host side closes during its unbind, and has it
# sleep 2 s (a busy workqueue) before it touches the device: the queueing must be refused, or
# KASAN (the lab's test kernel) reports the run on the freed device, which fails the case.
test_ctrl_work_after_remove() {
	local bdf knob=/sys/kernel/debug/xpu/ctrl_late
	grep -qw kasan_report /proc/kallsyms ||
		{ echo "SKIP: this kernel has no KASAN: a use-after-free would go unseen"; return "$KSFT_SKIP"; }
	setup_pci
	[ -w $knob ] || { echo "SKIP: no $knob (debugfs)"; return "$KSFT_SKIP"; }
	trap 'echo 0 >$knob' EXIT	# a failed case leaves nothing armed
	bdf=$(basename "$(ip netns exec "$H" readlink -f "/sys/class/net/$HDEV/device")")
	echo 1 >$knob
	echo "$bdf" >/sys/bus/pci/drivers/xpu/unbind || fail "unbind $bdf failed"
	[ "$(cat $knob)" = 0 ] || fail "the fault was not injected (the device did not close?)"
	sleep 3	# a work queued anyway would have run by now
	echo "$bdf" >/sys/bus/pci/drivers/xpu/bind || fail "bind $bdf failed"
}

# CXL mode: windows that are not CXL memory xpu may take, or not a window's size, are refused
# at load, each with its reason in the kernel log and nothing claimed.
test_cxl_bad_windows() {
	local ram args want
	modprobe -r xpu || fail "cannot unload xpu"
	# The start of the last top-level System RAM range (the first is under 1 MiB, and short).
	ram=$(sed -n 's/^\([0-9a-f]*\)-[0-9a-f]* : System RAM$/0x\1/p' /proc/iomem | tail -n1)
	while IFS='|' read -r args want; do
		dmesg_mark
		# shellcheck disable=SC2086 # words
		modprobe xpu $args 2>/dev/null && fail "modprobe xpu $args loaded"
		[ -d /sys/module/xpu ] && fail "xpu stayed loaded after modprobe xpu $args failed"
		dmesg_since | grep -qF "$want" || fail "modprobe xpu $args: dmesg does not say '$want': $(dmesg_since | grep xpu)"
		grep -q ": xpu\$" /proc/iomem && fail "modprobe xpu $args left a claim in /proc/iomem"
	done <<-EOF
	cxl_base=$ram cxl_size=0x200000|is not inside a CXL memory window
	cxl_base=$((CXL_BASE + 1)) cxl_size=$CXL_SIZE|not a range of whole pages
	cxl_base=$CXL_BASE|a window is a power of two
	cxl_base=$CXL_BASE cxl_size=$((CXL_SIZE - 4096))|a window is a power of two
	cxl_coherent=0|cxl_coherent=0 is for CXL mode
	cxl_base=$CXL_BASE cxl_size=$((CXL_SIZE * 2))|cannot be claimed
	cxl_base=$((CXL_BASE + CXL_SIZE)) cxl_size=$CXL_SIZE|is in no CXL region
	EOF
	pci_sides
}

# CXL mode, cxl_coherent=0 (a medium that is not coherent between the hosts, as CXL
# memory shared without back-invalidation): both sides write back and invalidate, say so in their headers, and the link carries
# traffic both ways. QEMU's memory is coherent, so this shows the flushing path runs and
# agrees with itself; that the flushes are the right ones, the datapath library's tests show
# over a model of such a medium (datapath/tests/coherence.rs).
test_cxl_noncoherent() {
	local got
	modprobe -r xpu || fail "cannot unload xpu"
	XPU_MODPARAMS="$XPU_MODPARAMS cxl_coherent=0"
	setup_pci
	dmesg | grep -q "CXL mode, window $CXL_BASE+$CXL_SIZE, not coherent" ||
		fail "dmesg does not say the window is not coherent"
	ip netns exec "$H" ping -q -c 5 -i 0.2 -s 1400 $ADDR_D >/dev/null || fail "ping host -> dpu failed"
	got=$(iperf_bytes "$H" "$D" $ADDR_D 2) || exit 1
	[ "$got" -gt 100000 ] || fail "host -> DPU: only $got bytes"
	got=$(iperf_bytes "$D" "$H" $ADDR_H 2) || exit 1
	[ "$got" -gt 100000 ] || fail "DPU -> host: only $got bytes"
	echo "both sides flushing: iperf3 carried $got bytes DPU -> host in 2 s"
	xpu_del_netns
	modprobe -r xpu || fail "cannot unload xpu"
}

# A peer that takes the medium as not coherent, against a side that takes it as coherent: the
# link stays down and both say why.
test_cxl_medium_mismatch() {
	WANT="peer takes the medium's coherence otherwise (cxl_coherent differs); we take it as coherent" \
		STATUS="cxl_coherent differs" mismatch --noncoherent
}

MEDIUM=${XPU_MEDIUM:-bar}
XPU_MODPARAMS="" PEER_WINDOW="" CXL_BASE="" CXL_SIZE=""
case $MEDIUM in
bar) xpu_begin 14 ;;
cxl) xpu_begin 15 ;;
*) echo "XPU_MEDIUM=$MEDIUM: the media are bar (the default) and cxl" >&2; exit 1 ;;
esac
TMPDIR_PCI=$(mktemp -d)
if [ "$(ivshmem_fns | grep -c .)" != 2 ]; then
	ktap_skip_all "needs two ivshmem-doorbell functions on one fabric (tools/lab/vm.sh --ivshmem 2)"
	exit "$KSFT_SKIP"
fi
if [ "$MEDIUM" = cxl ]; then
	# The CXL memory device's volatile region, made by xpuctl (as a user would: README).
	XPU_MODPARAMS=$(xpuctl cxl window 2>&1) ||
		{ ktap_skip_all "no CXL window: $XPU_MODPARAMS (tools/lab/vm.sh --cxl FILE)"; exit "$KSFT_SKIP"; }
	CXL_BASE=$(echo "$XPU_MODPARAMS" | sed -n 's/.*cxl_base=\(0x[0-9a-f]*\).*/\1/p')
	CXL_SIZE=$(echo "$XPU_MODPARAMS" | sed -n 's/.*cxl_size=\(0x[0-9a-f]*\).*/\1/p')
	ktap_print_msg "CXL window: $XPU_MODPARAMS ($(cat /sys/bus/cxl/devices/region0/mode 2>/dev/null) region)"
	PEER_WINDOW="--cxl $CXL_BASE:$CXL_SIZE"
fi
command -v iperf3 >/dev/null && command -v ethtool >/dev/null && command -v python3 >/dev/null ||
	{ ktap_skip_all "iperf3, ethtool and python3 are needed"; exit "$KSFT_SKIP"; }
xpu_case "probe: a host-side and a DPU-side netdev, roles in ethtool -i and ip -d link" test_probe
xpu_case "ping and iperf3 TCP both ways across the window, bytes counted" test_ping_iperf
# The function's interrupts and the control work's teardown are the same whatever the window
# is: CXL mode leaves those two cases to the BAR's run.
[ "$MEDIUM" = bar ] &&
	xpu_case "each NAPI linked to its queue's MSI-X vector (napi-get)" test_napi_irqs
xpu_case "ethtool -G across the window: depths asked and kept, through a ring reset" \
	test_ringparam
xpu_case "native XDP on the DPU side: XDP_TX and redirect replies, drops; GSO as skbs" test_xdp
xpu_case "peer leaves: carrier down (time reported), back by itself when it returns" test_peer_leaves_and_returns
xpu_case "down/up of one side: the link comes back" test_down_up
xpu_case "module unload under traffic, and reload" test_unload_reload
xpu_case "version mismatch: carrier stays down, dmesg and status say why" test_version_mismatch
xpu_case "configuration mismatch: carrier stays down, dmesg and status say why" test_config_mismatch
xpu_case "hostile peer under traffic: violations counted, link reset, then recovery" test_hostile_peer
xpu_case "peer's event indices stuck at never: our packets still reach it" test_event_index_stuck
[ "$MEDIUM" = bar ] &&
	xpu_case "a control work queued during removal never runs on the freed device (fault injection)" test_ctrl_work_after_remove
[ "$MEDIUM" = cxl ] &&
	xpu_case "CXL: windows outside CXL memory, unaligned, of no window's size, across or outside the region are refused" \
		test_cxl_bad_windows
[ "$MEDIUM" = cxl ] &&
	xpu_case "CXL, not coherent (cxl_coherent=0): both sides flush, say so, and carry traffic" \
		test_cxl_noncoherent
[ "$MEDIUM" = cxl ] &&
	xpu_case "CXL: a peer that takes the medium as not coherent is refused, and both say why" \
		test_cxl_medium_mismatch
xpu_end
