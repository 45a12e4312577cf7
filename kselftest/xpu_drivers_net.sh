#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel's own driver tests (tools/testing/selftests/drivers/net) in their real-device
# mode against an xpu pair: NETIF=xpu0 here, the peer in a namespace (REMOTE_TYPE=netns).
#   ping.py     ping (to 65000 bytes) and TCP both ways, checksum offload off and on, under
#               no XDP program, a generic one, a native one and a native multi-buffer one
#               (at MTU 9000); offloaded XDP it skips (a NIC's, not a virtual device's).
#   xdp.py      native XDP: pass, drop, XDP_TX, tail and head adjustment, single- and
#               multi-buffer, and the queue stats of what XDP did.
#   hw/csum.py  checksums: crafted good and bad ones received, offloaded ones sent.
#   stats.py    the device's counters: ip link, qstats per queue and base, across down/up and
#               ethtool -L, read in parallel.
#   napi_id.py  a socket learns the id of the NAPI that received its packets.
#   queues.py   the queues the netdev family lists, through ethtool -L and down/up, and the
#               one an AF_XDP socket (copy mode) is bound to.
#   gro.py      what GRO makes on xpu0 of crafted trains from the peer (coalesce or not).
#   ring_reconfig.py  ethtool -L's mixes, ethtool -G down to the least ring and back with
#               traffic at each, and a TX queue's backlog after a ring change.
#   napi_threaded.py  threaded NAPI, per device and per NAPI, across ethtool -L.
#   so_txtime.py  SO_TXTIME's dates through fq and ETF (and its program run here, for the
#               receiver's verdict that the test's slow mode ignores).
#   netpoll_basic.py  netconsole by netpoll under traffic (in the -icount VM: bpftrace counts
#               the polls, and starts too slowly under plain TCG).
#   hds.py, shaper.py, hw/tso.py, and hw/'s tests in HW_ABSENT  features xpu does not have
#               (header/data split, shapers, LSO queue stats, ...): every case skips, for the
#               reasons given with each test below.
#   hw/uso.py   UDP GSO datagrams sent from xpu0 (one check fails by design: see test_uso_py).
#   hw/irq.py   (PCI loop) each NAPI's MSI-X vector and its affinity across reconfiguration.
#   hw/xdp_metadata.py  the receive hash a native XDP program reads by kfunc.
#   macsec.py   software MACsec over xpu, and a VLAN over that.
#   hw/nk_netns.py  a netkit namespace that xpu0's tc ingress redirects into.
#   psp.py      PSP encryption offload: each case that needs a PSP device skips or xfails.
#   hw/pp_alloc_fail.py  page-pool allocation failures: it skips (xpu has no page pool).
#   hw/nk_qlease.py  (PCI loop) a netkit device leasing an RX queue: each case fails, as it
#               must, for the queue management ops xpu has not.
# Not run: drivers/net/hw's shell tests, written for a cabled pair of a switch's or NIC's ports
# (NETIFS): ethtool.sh (link modes and autoneg between the two PHYs), ethtool_extended_state.sh
# (a PHY's link-down reasons: no cable, no partner), ethtool_mm.sh (802.3br MAC merge),
# ethtool_std_stats.sh and ethtool_rmon.sh (a MAC's IEEE 802.3 and RMON counters), loopback.sh
# (a MAC's or PHY's loopback), hw_stats_l3.sh and hw_stats_l3_gre.sh (a switch ASIC's L3
# counters). xpu has none of these, as veth has none: what a case could show is that the
# device lacks them, which ethtool already says (no link modes, no such statistics groups).
# With XPU_DRV_PCI=1 they run on the PCI loop's two functions (tools/lab/vm.sh --ivshmem 2).

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

# tools/lab/ksft.sh installs the tests with their libraries and helpers next to the xpu tests.
DRV_NET=$XPU_DIR/../../../pytree/tools/testing/selftests/drivers/net

# drv_pair [QUEUES]: an xpu pair, xpu0 here and xpu1 ($REMOTE_IF) in a new namespace ($REMOTE_NS),
# addressed and described to the suite's environment (NetDrvEpEnv) by its variables. Without
# QUEUES it has the default count (one per CPU, at most 4). With XPU_DRV_PCI=1 the pair is the
# PCI loop's two functions instead (drv_pci_pair), the host side here.
drv_pair() {
	local dev peer
	for c in python3 socat ethtool tc xpuctl; do
		command -v $c >/dev/null || skip "$c not installed"
	done
	REMOTE_NS=$(xpu_netns remote) || fail "cannot create netns"
	if [ "${XPU_DRV_PCI:-}" = 1 ]; then
		drv_pci_pair "${1:-}"
		dev=$HDEV peer=$DDEV
	elif [ -n "${1:-}" ]; then
		xpuctl link add xpu0 --peer xpu1 --queues "$1" || fail "add with $1 queues failed"
		dev=xpu0 peer=xpu1
	else
		ip link add xpu0 type xpu || fail "add failed"
		dev=xpu0 peer=xpu1
	fi
	ip link set "$peer" netns "$REMOTE_NS" || fail "moving the peer failed"
	ip addr add 192.0.2.1/24 dev "$dev"
	ip addr add 2001:db8::1/64 dev "$dev" nodad
	ip -n "$REMOTE_NS" addr add 192.0.2.2/24 dev "$peer"
	ip -n "$REMOTE_NS" addr add 2001:db8::2/64 dev "$peer" nodad
	ip link set "$dev" up
	ip -n "$REMOTE_NS" link set "$peer" up
	slowwait 10 ping -q -c 1 -W 1 192.0.2.2 >/dev/null || fail "no connectivity"
	REMOTE_IF=$peer
	export NETIF=$dev LOCAL_V4=192.0.2.1 REMOTE_V4=192.0.2.2 LOCAL_V6=2001:db8::1 \
		REMOTE_V6=2001:db8::2 REMOTE_TYPE=netns REMOTE_ARGS="$REMOTE_NS"
}

# drv_pci_pair [QUEUES]: the PCI loop's functions (tools/lab/vm.sh --ivshmem 2), on netdevs
# made afresh: xpu is loaded again, so that what the case before changed (MTU, features,
# channels, addresses: a PCI netdev outlives a case) goes with the old ones.
drv_pci_pair() {
	[ -n "$(ivshmem_fns)" ] || skip "no ivshmem-doorbell functions (tools/lab/vm.sh --ivshmem 2)"
	modprobe -r xpu || fail "cannot unload xpu"
	pci_sides
	if [ -n "${1:-}" ]; then
		ethtool -L "$HDEV" combined "$1" && ethtool -L "$DDEV" combined "$1" ||
			fail "cannot give the PCI link $1 queues"
	fi
}

# drv_run TEST [ARG...]: runs drivers/net/TEST and prints its KTAP; fails unless it exits 0.
# Its output is kept in DRV_OUT for drv_passed.
drv_run() {
	drv_exec "$@"
	[ "$DRV_RC" = 0 ] || fail "$1 failed (exit $DRV_RC)"
}

# drv_exec TEST [ARG...]: drv_run whatever the exit status, which is kept in DRV_RC.
drv_exec() {
	local t=$1
	shift
	[ -f "$DRV_NET/$t" ] || skip "drivers/net/$t is not installed next to the xpu tests"
	# The lab's ethtool with JSON output (tools/lab/deps.sh), for these tests only; and where a
	# test needs it (DRV_TREE_BPFTOOL=1), the kernel tree's bpftool (tools/lab/ksft.sh).
	local path=${XPU_TOOLS:+$XPU_TOOLS/ethtool-json:}$PATH
	[ "${DRV_TREE_BPFTOOL:-}" = 1 ] && path=$DRV_NET/../../../../../bin:$path
	DRV_OUT=$(PATH=$path python3 "$DRV_NET/$t" "$@" 2>&1)
	DRV_RC=$?
	echo "$DRV_OUT"
}

# drv_passed CASE...: each case ran and passed (a run that skipped them all exits 0 too).
drv_passed() {
	local c
	for c in "$@"; do
		echo "$DRV_OUT" | grep -q "^ok [0-9]* $c\$" || fail "$c did not pass"
	done
}

# drv_all_passed [REASON...]: every case of the run passed, except those that skipped or
# xfailed with one of these reasons (fixed strings of their messages); at least one case ran.
drv_all_passed() {
	local r others
	echo "$DRV_OUT" | grep -qE '^ok [0-9]+ ' || fail "no case ran"
	others=$(echo "$DRV_OUT" | grep -E '^not ok [0-9]+ |^ok [0-9]+ .* # (SKIP|XFAIL)')
	for r in "$@"; do
		others=$(echo "$others" | grep -vF -- "$r")
	done
	[ -z "$others" ] || fail "failed, or skipped for a reason not stated here: $others"
}

test_ping_py() {
	drv_pair
	drv_run ping.py
	drv_passed ping.test_default_v4 ping.test_default_v6 ping.test_xdp_generic_sb \
		ping.test_xdp_generic_mb ping.test_xdp_native_sb ping.test_xdp_native_mb
}

test_csum_py() {
	local v c cases=()
	drv_pair
	# The transmit cases read, at the peer, the checksums xpu0's offload asked for. xpu hands
	# a partial checksum on, as veth and virtio-net do, and the receiving stack takes it as its
	# own (the test's AF_PACKET reader is told "not ready" and skips the packet); a receiver
	# with rx-checksumming off gets it written, as virtio-net's device writes it for a guest
	# without GUEST_CSUM. Each receiver listens for 2 s from its start, within which the other
	# side must start its sender: in the -icount VMs (XPU_ICOUNT=1), as 2 s of the guest's
	# work, not of a host that runs other VMs too.
	ip netns exec "$REMOTE_NS" ethtool -K "$REMOTE_IF" rx off || fail "ethtool -K rx off failed"
	drv_run hw/csum.py
	for v in 4 6; do
		for c in rx_tcp rx_tcp_invalid rx_udp rx_udp_invalid tx_udp_csum_offload \
			tx_udp_zero_checksum; do
			cases+=("csum.ipv${v}_$c")
		done
	done
	drv_passed "${cases[@]}"
}

test_stats_py() {
	drv_pair
	# Pause frames and FEC belong to a wire: a virtual NIC has neither, and stats.py skips
	# their three cases when the device refuses them (EOPNOTSUPP). ynl decodes the xpu link's
	# getlink with the lab's rt-link spec (tools/lab/rt-link-xpu.py).
	drv_run stats.py
	drv_passed stats.pkt_byte_sum stats.qstat_by_ifindex stats.check_down stats.procfs_hammer \
		stats.procfs_downup_hammer
}

test_napi_id_py() {
	drv_pair
	drv_run napi_id.py
	drv_passed napi_id.test_napi_id
}

test_queues_py() {
	# Queues to take away and give back (the VM may have one CPU, hence one by default).
	drv_pair 4
	drv_run queues.py
	drv_passed queues.get_queues queues.addremove_queues queues.check_down queues.check_xsk
}

# The gro.py cases whose trains are 18 packets of 4 KiB, coalesced up to the IP maximum and not
# past it.
GRO_LARGE=(large_max large_rem)

# gro_pair: drv_pair for gro.py. gro.c dates every packet of a train 5 ms ahead (SO_TXTIME),
# so that the train leaves the sender in one burst whatever the sender's speed, as from a
# NIC's wire; only an EDT qdisc honours the date: the peer's is fq.
gro_pair() {
	drv_pair
	ip netns exec "$REMOTE_NS" tc qdisc replace dev "$REMOTE_IF" root fq || fail "no fq qdisc"
}

test_gro_py() {
	local v c cases=()
	gro_pair
	# Under TCG a sender needs more than 5 ms for the large trains (GRO then flushes at the
	# next jiffy what it holds), so this run tells the test it is on a slow machine (the
	# kernel tests' KSFT_MACHINE_SLOW): it then takes a large train's wrong split for the
	# machine's (over-coalescing still fails it). test_gro_large runs them strictly, in a
	# guest whose clock follows its instructions.
	KSFT_MACHINE_SLOW=yes drv_run gro.py
	for v in ipv4 ipv6 ipip ip6ip6; do
		for c in data_same data_lrg_sml data_burst ack flags_psh tcp_csum tcp_seq ip_ecn; do
			cases+=("gro.test.sw_${v}_$c")
		done
	done
	for v in pppoev4 pppoev6; do
		for c in data_same data_lrg_sml data_burst pppoe_sid; do
			cases+=("gro.test.sw_${v}_$c")
		done
	done
	drv_passed "${cases[@]}" gro.test.sw_ipv4_ip_id_df1_inc gro.test.sw_ipv6_ip_v6ext_same
}

# Under -icount the guest's clock counts its instructions (one per ns at shift=0): the sender's
# 18 packets take a fraction of the 5 ms the test gives them, as on a real CPU. Run so with
# tools/lab/vm.sh --qemu-opts '-icount shift=0,sleep=on' -- XPU_ICOUNT=1 ... (make check does).
test_gro_large() {
	local v c filter=() cases=()
	gro_pair
	for v in ipv4 ipv6 ipip ip6ip6; do
		for c in "${GRO_LARGE[@]}"; do
			filter+=(-t "test.sw_${v}_$c")
			cases+=("gro.test.sw_${v}_$c")
		done
	done
	drv_run gro.py "${filter[@]}"
	drv_passed "${cases[@]}"
}

test_xdp_py() {
	local filter=(-t '*ipv4' -t test_xdp_native_update_mb_to_sb)
	drv_pair
	command -v bpftool >/dev/null || skip "bpftool not installed"
	# The kernel's native XDP tests: its program (net/lib/xdp_native.bpf.c, with a kfunc the
	# lab kernel's BTF resolves) passes, drops, sends back and adjusts the frames it is told
	# to through its maps, single- and multi-buffer (MTU 9000), and the netdev family's queue
	# stats count what XDP did. The run takes ten minutes under TCG: the cases over IPv4 run
	# on a pair, those over IPv6 on the PCI loop. Each exchange's receiver (socat -T 2) gives
	# up 2 s after its start, within which the other side must start its sender: on a pair in
	# the -icount VM (XPU_ICOUNT=1), as csum.py. The PCI loop's run is not there: with two
	# vCPUs on one host thread, each of the program's attaches (which patches the kernel's
	# text, and waits for every CPU) took a scheduling round, and its cases ran over 20
	# minutes, against 5 in a VM of two host threads. Its VM boots with kmemleak=off, which
	# makes a sender start sooner (tools/lab/check.sh).
	[ "${XPU_DRV_PCI:-}" = 1 ] && filter=(-t '*ipv6')
	drv_run xdp.py "${filter[@]}"
	# One skip by design: xpu bounds the MTU of the end that sends, as veth does, so a
	# single-buffer program attaches at MTU 9000 while the peer's MTU is 1500 (the case wants
	# it refused, and skips when it is not).
	drv_all_passed "device supports single-buffer XDP with mtu 9000"
}

test_ring_reconfig_py() {
	command -v iperf3 >/dev/null || skip "iperf3 not installed (ringparam's traffic)"
	drv_pair 2
	drv_run ring_reconfig.py
	drv_passed ring_reconfig.channels ring_reconfig.ringparam
	# reconfig_tx_stall needs a TX queue backlog that outlasts a ring change: it marks an
	# expected failure on a device whose transmit completes too soon for one to build (its own
	# words, for software devices), and skips without tc's flower and skbedit.
	echo "$DRV_OUT" | grep -E '^(not )?ok [0-9]* ring_reconfig.reconfig_tx_stall' ||
		fail "reconfig_tx_stall did not run"
	echo "$DRV_OUT" | grep -q '^not ok [0-9]* ring_reconfig.reconfig_tx_stall$' &&
		fail "reconfig_tx_stall failed"
	return 0
}

test_napi_threaded_py() {
	drv_pair 2
	# Threaded NAPI set per device and per NAPI, kept in the NAPIs' persistent configuration
	# (netif_napi_add_config) across ethtool -L.
	drv_run napi_threaded.py
	drv_all_passed
}

test_so_txtime_py() {
	drv_pair
	local v t addrs bin=$DRV_NET/so_txtime
	# SO_TXTIME's departure times through fq (monotonic and TAI clocks) and ETF (under prio,
	# the test's packets steered to it by their mark), with the dates it must refuse. Its
	# sender and receiver must start within 200 ms of the date it gives them, which an
	# emulated guest does not do (nor one whose clock follows its instructions: one per ns,
	# and a debug kernel): "start time already passed". On a slow machine (KSFT_MACHINE_SLOW)
	# the test gives them 2 s, but no longer looks at the receiver's verdict at all.
	KSFT_MACHINE_SLOW=yes drv_run so_txtime.py
	drv_all_passed
	# So the receiver's verdict is read here, from the test's own program, whose slow mode
	# forgives only the dates: two datagrams dated in reverse order leave xpu0 through fq and
	# arrive in date order, with their payloads, over IPv4 and IPv6 (dated 100 and 200 ms
	# after the start: the sender must have queued both before fq lets the first go).
	tc qdisc replace dev "$NETIF" root fq || fail "no fq qdisc"
	for v in 4 6; do
		if [ $v = 4 ]; then addrs=(-S "$LOCAL_V4" -D "$REMOTE_V4"); else
			addrs=(-S "$LOCAL_V6" -D "$REMOTE_V6"); fi
		t=$(($(date +%s%N) + 2000000000))
		ip netns exec "$REMOTE_NS" env KSFT_MACHINE_SLOW=yes \
			"$bin" -$v -c mono -t "$t" "${addrs[@]}" b,100,a,200 -r &
		KSFT_MACHINE_SLOW=yes "$bin" -m 100 -$v -c mono -t "$t" "${addrs[@]}" a,200,b,100 ||
			fail "so_txtime's sender failed (IPv$v)"
		wait $! || fail "IPv$v: datagrams dated b before a did not arrive so through fq"
	done
	tc qdisc del dev "$NETIF" root
}

test_netpoll_basic_py() {
	command -v iperf3 >/dev/null || skip "iperf3 not installed (the test's traffic)"
	command -v bpftrace >/dev/null || skip "bpftrace not installed (it counts netpoll's polls)"
	local sniff n try
	drv_pair
	# netconsole's messages go out through xpu0 by netpoll (ndo_start_xmit with interrupts
	# off), under iperf3 traffic on one queue of 128 descriptors (the test asks for 1 first,
	# which xpu refuses: its least is 8). netpoll polls the device's NAPI (budget 0) when a
	# transmit does not complete; should the ring never fill, the test ends as its own
	# expected failure ("netpoll_poll_dev() was not called"). That the messages cross, the
	# sniffer at the peer counts (they are addressed to MAC 0, so no socket there gets them;
	# the test sends them over IPv6 when the device has an address of each family).
	# The lab's guests boot quiet (virtme-ng: loglevel=0), so that no message reaches any
	# console, netconsole included: the test's (written to /dev/kmsg, at the default level 4)
	# need a console level of 5.
	[ -f "$DRV_NET/netpoll_basic.py" ] || skip "drivers/net/netpoll_basic.py is not installed"
	NP_PRINTK=$(cat /proc/sys/kernel/printk) NP_SNIFFER=
	sniff=$(mktemp)
	# The case runs in a subshell of its own (hence globals): whatever ends it puts the level
	# back and stops the sniffer (which would otherwise hold the case's output open).
	trap 'echo "$NP_PRINTK" >/proc/sys/kernel/printk; [ -z "$NP_SNIFFER" ] || kill $NP_SNIFFER' EXIT
	echo 5 >/proc/sys/kernel/printk || fail "cannot set the console log level"
	# Frames to another host only (a socket filter on the packet type): not iperf3's, whose
	# every packet would wake it, on the one CPU the test's traffic needs.
	ip netns exec "$REMOTE_NS" python3 -c '
import ctypes, signal, socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
# ld pkttype; jeq PACKET_OTHERHOST ? accept : drop
code = struct.pack("HBBI" * 4, 0x20, 0, 0, 0xFFFFF004, 0x15, 0, 1, 3, 0x06, 0, 0, 0xFFFF,
                   0x06, 0, 0, 0)
prog = ctypes.create_string_buffer(code)
s.setsockopt(socket.SOL_SOCKET, 26,  # SO_ATTACH_FILTER
             struct.pack("HL", 4, ctypes.addressof(prog)))
s.bind((sys.argv[1], 0))
n = 0
def done(*_):
    open(sys.argv[2], "w").write(str(n))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    p, addr = s.recvfrom(65536)
    if addr[1] == 0x0800:
        udp, h = p[9] == 17, (p[0] & 15) * 4
    elif addr[1] == 0x86DD:
        udp, h = p[6] == 17, 40
    else:
        continue
    if udp and int.from_bytes(p[h + 2:h + 4], "big") == 6666 and b"netcons test" in p:
        n += 1
' "$REMOTE_IF" "$sniff" >/dev/null 2>&1 &
	NP_SNIFFER=$!
	# Its traffic must reach 1000 packets/s within 5 s of starting, which this guest (a debug
	# kernel at one instruction per ns) misses at times: up to five runs, again on exactly
	# that.
	for try in 1 2 3 4 5; do
		drv_exec netpoll_basic.py
		[ "$DRV_RC" != 0 ] && echo "$DRV_OUT" | grep -q 'Exception: iperf3 traffic did not ramp up' ||
			break
		echo "run $try: iperf3 did not ramp up in time"
	done
	echo "$NP_PRINTK" >/proc/sys/kernel/printk
	kill -TERM $NP_SNIFFER && wait $NP_SNIFFER
	NP_SNIFFER=
	n=$(cat "$sniff")
	rm -f "$sniff"
	[ "$DRV_RC" = 0 ] || fail "netpoll_basic.py failed (exit $DRV_RC)"
	drv_all_passed "netpoll_poll_dev() was not called during the test"
	echo "netconsole datagrams at the peer: $n"
	[ "${n:-0}" -gt 0 ] || fail "no netconsole message reached the peer"
}

test_hds_py() {
	drv_pair
	# Header/data split puts a NIC's received headers and payload in separate buffers (for
	# zero-copy receive into device or user memory); xpu copies each frame out of the window
	# into one buffer, and says so to ethtool: tcp-data-split and hds-thresh are not reported.
	# A ring-set asking for it is refused by ethtool's core (EOPNOTSUPP), which the test words
	# "ring-set not supported".
	drv_run hds.py
	drv_all_passed "tcp-data-split not supported by device" "hds-thresh not supported by device" \
		"ring-set not supported by the device"
}

test_shaper_py() {
	# Queues enough for every case to reach the device's capabilities (up to 4).
	drv_pair 4
	# The net-shaper family is in the lab kernel; xpu has no transmit scheduler of its own to
	# program (tc's qdiscs shape its queues, as on veth and virtio-net): no net_shaper_ops.
	drv_run shaper.py
	# (The first reason also covers the queue and node scopes' "... scope shapers not ...".)
	drv_all_passed "shapers not supported by the device" \
		"queue shapers not supported by device, skipping delete" \
		"netdev shaper not supported by device, skipping delete" \
		"device does not support queue scope"
}

test_tso_py() {
	drv_pair
	# hw/tso.py counts what a NIC's segmentation makes (the LSO queue stats, tx-hw-gso-*):
	# xpu does not segment, a TSO packet crosses the rings whole (the receiving stack takes it
	# as GRO's), so xpu has no such stats and the test skips each case.
	drv_run hw/tso.py
	drv_all_passed "Device does not support LSO queue stats"
}

test_uso_py() {
	local counts
	drv_pair
	# A UDP GSO datagram from xpu0 (UDP_SEGMENT, 1400-byte segments) must reach the peer's
	# socket whole, in segments (the test's first check). Its second counts the segments a NIC
	# puts on its wire in xpu0's tx packets: xpu, as veth and virtio-net, carries the datagram
	# whole across its rings and counts it once (the peer's stack segments it), so that check
	# alone fails, and says so in its own words, which are all that may fail here.
	drv_exec hw/uso.py
	echo "$DRV_OUT" | grep -q '^ok [0-9]* uso\.\|^not ok [0-9]* uso\.' || fail "uso.py ran no case"
	[ "$DRV_RC" = 1 ] && echo "$DRV_OUT" | grep -q '^# Totals: ' ||
		fail "uso.py ended otherwise than with failed cases (exit $DRV_RC)"
	echo "$DRV_OUT" | grep -E '# SKIP|Received [0-9]+B, expected' &&
		fail "a datagram was lost or a case skipped"
	counts=$(echo "$DRV_OUT" |
		grep -c '^# Check failed [0-9]* < [0-9]* Expected >= [0-9]* tx packets, got ')
	[ "$counts" = "$(echo "$DRV_OUT" | grep -c '^# Check failed')" ] ||
		fail "uso.py failed a check other than the count of wire segments"
	[ "$counts" = "$(echo "$DRV_OUT" | grep -c '^not ok [0-9]* uso\.')" ] ||
		fail "uso.py failed a case for another reason"
	return 0
}

# hw/toeplitz.py: the hash each received packet carries (skb->hash, which the test reads from
# an AF_PACKET ring) is the RSS specification's Toeplitz hash of its addresses and ports with
# the key ethtool -x shows, TCP and UDP, IPv4 and IPv6. On the PCI loop also where it is
# received: on the CPU of the MSI-X vector of the queue the indirection table names. A pair
# has no vector (the sender's doorbell runs the receiver's NAPI on the sender's CPU), so there
# the four plain variants run. The RPS variants skip in the lab's VMs: they want two CPUs that
# no RX vector uses. The test waits 4 s for 10 packets from the peer, each from a socat of its
# own: the guest's clock follows its instructions (XPU_ICOUNT=1), or a guest under TCG spawns
# too few of them in time.
test_toeplitz_py() {
	drv_pair
	if [ "${XPU_DRV_PCI:-}" = 1 ]; then
		toeplitz_run
		drv_all_passed "not used by Rx queues"
	else
		toeplitz_run -t test.tcp_ipv4 -t test.tcp_ipv6 -t test.udp_ipv4 -t test.udp_ipv6
		drv_all_passed
	fi
}

# toeplitz_run [ARG...]: hw/toeplitz.py, then, twice at most, the variants that failed only
# because their receiver saw fewer than the 10 packets it needs in its 4 s. Its sender starts a
# socat for each packet, and gets 13 to 16 through in that time in this lab's guests: a guest
# whose idle clock follows a busy host's real time may get fewer. A wrong hash or queue fails
# at once (a "fail=N" count), however few packets came.
toeplitz_run() {
	local try variants t args kept
	drv_exec hw/toeplitz.py "$@"
	kept=$DRV_OUT
	for try in 1 2; do
		[ "$DRV_RC" != 0 ] || break
		# A variant's output comes before its result line.
		variants=$(echo "$DRV_OUT" | awk '
			/^(not )?ok [0-9]+ toeplitz\./ {
				if ($1 == "not" && few && !wrong) { sub(/^toeplitz\./, "", $4); print $4 }
				few = wrong = 0; next
			}
			/too few frames for verification/ { few = 1 }
			/count: pass=[0-9]+ nohash=[0-9]+ fail=[1-9]/ { wrong = 1 }')
		[ -n "$variants" ] || break
		args=()
		for t in $variants; do
			args+=(-t "$t")
			# The verdict of a variant that runs again is the new run's.
			kept=$(echo "$kept" | grep -vE "^not ok [0-9]+ toeplitz\.$t( |\$)")
		done
		echo "# again ($try): ${args[*]}, too few packets in 4 s"
		drv_exec hw/toeplitz.py "${args[@]}"
		kept+=$'\n'$DRV_OUT
	done
	# drv_all_passed's verdict covers every run.
	DRV_OUT=$kept
	[ "$DRV_RC" = 0 ] || fail "hw/toeplitz.py failed (exit $DRV_RC)"
}

# The rss_*.py cases that need what xpu has not, each with the reason it skips.
RSS_ABSENT=(
	# Additional RSS contexts: they take the flows an ntuple rule steers, and xpu has no
	# ntuple filters (see HW_ABSENT).
	"Device does not support ntuple-filters"
	"Unable to add any contexts"
	"Device does not support additional RSS contexts"
	# An indirection table whose size follows the queue count: xpu's has 128 entries.
	"Device does not dynamically size indirection table"
	# Flow label hashing, symmetric hashing (input transformation): not in xpu's hash.
	"Device doesn't support Flow Label for UDP6"
	"Symmetric RSS hash not supported by device"
)

# hw/rss_drv.py, rss_flow_label.py, rss_input_xfrm.py: the table's size against the queue
# count; what needs contexts, a table that grows with the queues, flow labels or symmetric
# hashing skips.
test_rss_py() {
	local t why=("${RSS_ABSENT[@]}")
	drv_pair 4
	# On one CPU rss_input_xfrm.py stops before it asks the device (the PCI loop's VM has two).
	[ "$(nproc)" -ge 2 ] || why+=("Need at least two CPUs to test symmetric RSS hash")
	drv_run hw/rss_drv.py
	drv_all_passed "${why[@]}"
	drv_passed rss_drv.indir_size_4x.main
	for t in rss_flow_label rss_input_xfrm; do
		drv_run "hw/$t.py"
		drv_all_passed "${why[@]}"
	done
}

# hw/rss_ctx.py: the table and the key (ethtool -X, and ynl's rss-set during traffic: no
# packet dropped, no error), the default table following ethtool -L, a set one kept through
# it; checked by where 16 iperf3 flows from the peer land (the netdev family's per-queue
# stats): the queues the table leaves out must get no packet at all. What needs contexts
# skips. Each check also wants 20000 packets within 5 s (5000 a queue), counted as a NIC counts
# what its wire carries: xpu carries a GSO packet whole, as one, so the peer segments (TSO and
# GSO off). The lab's guest, emulated and with a debug kernel (KASAN), receives about 2000 a
# second (10500 in 5 s with its clock following its instructions, XPU_ICOUNT=1): those counts
# may fail, in the test's own words, and nothing else may.
RSS_CTX_VOLUME='^# Check failed [0-9]+ < (20000|5000) traffic on '
test_rss_ctx_py() {
	local c bad
	drv_pair 6
	ip netns exec "$REMOTE_NS" ethtool -K "$REMOTE_IF" tso off gso off ||
		fail "ethtool -K tso off gso off failed"
	drv_exec hw/rss_ctx.py
	echo "$DRV_OUT" | grep -q '^# Totals: ' || fail "rss_ctx.py did not finish (exit $DRV_RC)"
	bad=$(echo "$DRV_OUT" | grep -E '^# (Check failed|Exception)' | grep -vE "$RSS_CTX_VOLUME")
	[ -z "$bad" ] || fail "rss_ctx.py failed otherwise than by its packet counts: $bad"
	# The cases that send: where the packets went passed (a failed count is the machine's).
	for c in test_rss_key_indir test_rss_queue_reconfigure; do
		echo "$DRV_OUT" | grep -qE "^(not )?ok [0-9]+ rss_ctx\.$c\$" || fail "$c did not run"
	done
	drv_passed rss_ctx.test_rss_resize rss_ctx.test_hitless_key_update
	# The others skip, each for its stated reason.
	DRV_OUT=$(echo "$DRV_OUT" | grep -vE '^not ok [0-9]+ rss_ctx\.test_rss_(key_indir|queue_reconfigure)$')
	drv_all_passed "${RSS_ABSENT[@]}"
}

# hw/rss_api.py: the RSS netlink API (rss-get, rss-set and their notifications, ioctl and
# netlink alike): the table, the key, the hashed fields. Its four context cases fail rather
# than skip on a device without additional contexts (see RSS_ABSENT): here they must fail
# for that, creating the context, and nothing else may.
RSS_API_CTX=(test_rxfh_nl_set_indir_ctx test_rxfh_indir_ctx_ntf test_rss_ctx_add test_rss_ctx_ntf)
test_rss_api_py() {
	local c
	drv_pair 4
	drv_exec hw/rss_api.py
	for c in "${RSS_API_CTX[@]}"; do
		echo "$DRV_OUT" | grep -q "^not ok [0-9]* rss_api\.$c\$" || fail "$c did not fail as expected"
	done
	[ "$(echo "$DRV_OUT" | grep -c '^not ok ')" = ${#RSS_API_CTX[@]} ] ||
		fail "rss_api.py failed a case that needs no context"
	[ "$(echo "$DRV_OUT" | grep -c 'Operation not supported')" -ge ${#RSS_API_CTX[@]} ] ||
		fail "the context cases failed for another reason than EOPNOTSUPP"
	echo "$DRV_OUT" | grep -E '^ok [0-9]+ .* # SKIP' | grep -v 'input-xfrm\|input_xfrm' &&
		fail "rss_api.py skipped a case for a reason not stated here"
	return 0
}

# drivers/net/hw's tests of what a NIC has and xpu has not: each case skips, for the reason
# given here with the test (a virtual NIC's answer to each: no such hardware behind it).
HW_ABSENT=(
	# GRO done by the NIC, LRO: xpu hands packets to the stack's GRO.
	"gro_hw.py" "Device does not support rx-gro-hw"
	# io_uring zero-copy receive, ntuple steering: no flow steering rules (RSS only).
	"iou-zcrx.py" "Device does not support ntuple-filters"
	"ntuple.py" "Device does not support ntuple-filters"
	# IPsec offload: no crypto engine.
	"ipsec_vxlan.py" "Device does not support esp-hw-offload"
	# Hardware timestamps: no PHC.
	"nic_timestamp.py" "timestamping configuration is not supported via netlink"
	# AF_XDP zero-copy: refused by design (README: a frame lives in the shared window).
	"xsk_reconfig.py" "Failed to bind XDP socket in zerocopy."
	# devlink rate and switchdev: no eswitch.
	"devlink_rate_cross_esw.py" "No bond slaves for"
	# (Its message names the device's PCI address, or "device" for one that has none.)
	"devlink_rate_tc_bw.py" "Failed to enable switchdev mode on device"
	# Device memory TCP into an RX queue of xpu0's, from this namespace, from a netkit
	# namespace that leases the queue, from a user namespace's: it needs header/data split
	# (payloads into the bound memory, headers into the kernel's; see test_hds_py) and queue
	# management ops (the queue API of page-pool memory providers). xpu copies each frame out
	# of the window into one skb of its own and has neither: ncdevmem's probe stops at "setting
	# TCP data split is not supported".
	"devmem.py" "Test requires devmem support"
	"nk_devmem.py" "Test requires devmem support"
	"userns_devmem.py" "Test requires devmem support"
)

test_hw_absent() {
	local i t probe hugepages failed=()
	drv_pair 4
	drv_netkit_prefix
	for ((i = 0; i < ${#HW_ABSENT[@]}; i += 2)); do
		t=${HW_ABSENT[i]}
		drv_exec "hw/$t" >/dev/null
		echo "hw/$t: $(echo "$DRV_OUT" | grep -m1 '^# Totals:')"
		if [ "$DRV_RC" != 0 ] || ! (drv_all_passed "${HW_ABSENT[i + 1]}"); then
			failed+=("$t")
			echo "$DRV_OUT"
		fi
	done
	# Why the devmem tests skipped: ncdevmem's probe, as they run it, stops where it asks xpu0
	# for header/data split (and not before, for want of huge pages or udmabuf).
	hugepages=$(cat /proc/sys/vm/nr_hugepages)
	echo 64 >/proc/sys/vm/nr_hugepages
	probe=$("$DRV_NET/hw/ncdevmem" -f "$NETIF" 2>&1)
	echo "$hugepages" >/proc/sys/vm/nr_hugepages
	echo "$probe" | grep -q "setting TCP data split is not supported" ||
		{ failed+=("ncdevmem's probe"); echo "$probe"; }
	# Splitting a devlink port into lanes: the test takes the machine's first devlink instance,
	# and xpu registers none (its ports are netdevs, with no lanes to split; and nothing else
	# in the lab's guest registers one). It is no KTAP test: it says why it skips, and exits 4.
	drv_exec hw/devlink_port_split.py
	[ "$DRV_RC" = 4 ] && echo "$DRV_OUT" | grep -q "devlink output is empty" ||
		failed+=(devlink_port_split.py)
	[ ${#failed[@]} = 0 ] || fail "cases that did not skip as stated: ${failed[*]}"
}

# drv_netkit_prefix: the tests with a netkit namespace (NetDrvContEnv) reach it at a prefix of
# its own (LOCAL_PREFIX_V6) that the peer routes via xpu0, where a tc program on xpu0's ingress
# redirects it into the namespace.
drv_netkit_prefix() {
	ip -n "$REMOTE_NS" -6 route add 2001:db8:2::/64 via "$LOCAL_V6" ||
		fail "cannot route the netkit prefix via $NETIF"
	export LOCAL_PREFIX_V6=2001:db8:2::/64
}

# hw/pp_alloc_fail.py: page-pool allocation failures injected under iperf3's traffic from the
# peer (fail_function on page_pool_alloc_netmems), counted in the qstats' rx-alloc-fail. xpu has
# no page pool (it copies each frame out of the window into an skb; the allocation failures it
# has, of those, are its rx-alloc-fail), so none are seen and the test skips. It injects only
# once it sees 4000 packets a second (the peer sends without TSO and GSO, so that each packet
# counts), which the lab's debug kernel does not receive (900 to 1300, under -icount too): then
# the case skips, saying how many it saw.
test_pp_alloc_fail_py() {
	local seen
	drv_pair
	ip netns exec "$REMOTE_NS" ethtool -K "$REMOTE_IF" tso off gso off ||
		fail "cannot turn the peer's segmentation offloads off"
	drv_exec hw/pp_alloc_fail.py
	seen=$(echo "$DRV_OUT" | sed -n "s/.*KsftFailEx: ('Traffic seems low:', \([0-9]*\)).*/\1/p")
	[ -z "$seen" ] || skip "this kernel receives $seen packets a second, the test wants 4000"
	[ "$DRV_RC" = 0 ] || fail "hw/pp_alloc_fail.py failed (exit $DRV_RC)"
	drv_all_passed "Allocation failures not increasing"
}

# psp.py: PSP, the encryption a NIC with a PSP engine does (the PSP family's devices), on xpu0
# and in a netkit namespace that xpu0 associates with. xpu has no such engine and registers no
# PSP device: the cases that need one skip, and the two that only netdevsim can do xfail. The
# one that asks for a device that does not exist passes; the netkit cases must have been tried
# (psp.py quietly leaves them out when it cannot make the namespace).
test_psp_py() {
	drv_pair
	drv_netkit_prefix
	drv_run psp.py
	drv_all_passed "No PSP devices found" "Test only works on netdevsim"
	drv_passed psp.dev_get_device_bad
	echo "$DRV_OUT" | grep -q "^ok [0-9]* psp\.data_basic_send_netkit_psp_assoc\." ||
		fail "psp.py ran without its netkit namespace"
}

# hw/nk_qlease.py: a netkit device leases an RX queue of the PCI function's for io_uring's
# zero-copy receive (netdev queue-create). xpu has no queue management ops (see devmem.py in
# HW_ABSENT), so the kernel refuses the lease, and each case, which fails rather than skips on
# a device that cannot lend a queue, must fail for that and nothing else. (A pair's device is a
# virtual one, which the kernel refuses before it asks for the ops: PCI mode only.)
test_nk_qlease_py() {
	local ran
	drv_pair 2
	drv_netkit_prefix
	drv_exec hw/nk_qlease.py
	ran=$(echo "$DRV_OUT" | grep -cE '^(not )?ok [0-9]+ ')
	[ "$ran" -gt 0 ] || fail "no case ran"
	[ "$(echo "$DRV_OUT" | grep -cE '^not ok [0-9]+ ')" = "$ran" ] ||
		fail "a case passed or skipped: leasing a queue of xpu's cannot work"
	# Each case's output, up to its verdict, names the reason.
	[ "$(echo "$DRV_OUT" | awk '/does not support queue management operations/ { m = 1 }
		/^not ok [0-9]+ / { if (!m) bad++; m = 0 } END { print bad + 0 }')" = 0 ] ||
		fail "a case failed for another reason than the queue management ops xpu has not"
}

# hw/xdp_metadata.py: a device-bound native program reads each packet's receive hash with
# bpf_xdp_metadata_rx_hash(): the Toeplitz hash that the packet's skb->hash would be, of its
# addresses and ports (an L4 hash type), TCP and UDP. Its listener gives up after 2 s without
# traffic, in which the peer must start its sender: in the -icount VM (XPU_ICOUNT=1).
test_xdp_metadata_py() {
	drv_pair
	# It pins its programs in the BPF filesystem, and loads them with bpftool's "xdpmeta_dev"
	# (bpftool 7.2 and later: the kernel tree's).
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs"
	DRV_TREE_BPFTOOL=1
	drv_run hw/xdp_metadata.py
	drv_passed xdp_metadata.test_xdp_rss_hash.tcp xdp_metadata.test_xdp_rss_hash.udp
	drv_all_passed
}

# macsec.py: MACsec in software on xpu0 and on the peer, and a VLAN over it: a ping through
# both (test_vlan.software). Its offload cases skip (xpu has no MACsec engine: no
# macsec-hw-offload feature), and the two that count netdevsim's SecYs xfail on any other
# device.
test_macsec_py() {
	drv_pair
	drv_run macsec.py
	drv_all_passed "macsec-hw-offload not supported" "Test only works on netdevsim"
	drv_passed macsec.test_vlan.software
}

# hw/nk_netns.py: a netkit pair whose far end has a namespace of its own, reached through
# xpu0: a tc program on xpu0's ingress redirects what the peer sends to the netkit prefix
# (LOCAL_PREFIX_V6) into that namespace (bpf_redirect_peer), and the replies leave through
# xpu0. The peer routes the prefix via xpu0.
test_nk_netns_py() {
	drv_pair
	drv_netkit_prefix
	drv_run hw/nk_netns.py
	drv_all_passed
	drv_passed nk_netns.test_ping
}

# PCI mode only: a pair has no IRQ (its doorbell schedules the peer's NAPI directly), and the
# test wants one per NAPI.
test_irq_py() {
	local irq
	# It moves a vector's affinity to CPUs 0 and 1 ("3"), or to 0 and 2 if it was on 0 and 1
	# already, as it is on a VM of two CPUs: the vectors start here on CPU 0 alone.
	[ "$(nproc)" -ge 2 ] || skip "hw/irq.py sets IRQ affinities of two CPUs: this VM has one"
	drv_pair
	for irq in $(ls "/sys/class/net/$NETIF/device/msi_irqs"); do
		echo 1 >"/proc/irq/$irq/smp_affinity" || fail "cannot move IRQ $irq to CPU 0"
	done
	# Each NAPI is linked to its MSI-X vector (netif_napi_set_irq), and the vector keeps its
	# affinity through ethtool -L, an XDP program's attach and detach, and down/up.
	drv_run hw/irq.py
	drv_all_passed
}

# XPU_ICOUNT=1 says the guest's clock follows its instructions: only the cases that need it,
# on the PCI loop with XPU_DRV_PCI=1 too.
if [ "${XPU_ICOUNT:-}" = 1 ] && [ "${XPU_DRV_PCI:-}" = 1 ]; then
	xpu_begin 3
	xpu_case "PCI loop: drivers/net/hw/toeplitz.py, the guest's clock by instructions" \
		test_toeplitz_py
	xpu_case "PCI loop: drivers/net/hw/csum.py, the peer's rx-checksumming off, the guest's clock by instructions" \
		test_csum_py
	xpu_end
fi
if [ "${XPU_ICOUNT:-}" = 1 ]; then
	xpu_begin 8
	xpu_case "drivers/net/gro.py's large trains, the guest's clock by instructions" \
		test_gro_large
	xpu_case "drivers/net/netpoll_basic.py, the guest's clock by instructions" \
		test_netpoll_basic_py
	xpu_case "drivers/net/hw/toeplitz.py's plain variants, the guest's clock by instructions" \
		test_toeplitz_py
	xpu_case "drivers/net/hw/rss_ctx.py, the peer segmenting, the guest's clock by instructions" \
		test_rss_ctx_py
	xpu_case "drivers/net/hw/csum.py, the peer's rx-checksumming off, the guest's clock by instructions" \
		test_csum_py
	xpu_case "drivers/net/hw/xdp_metadata.py, the guest's clock by instructions" \
		test_xdp_metadata_py
	xpu_case "drivers/net/xdp.py, its IPv4 cases, the guest's clock by instructions" test_xdp_py
	xpu_end
fi
# XPU_DRV_PCI=1: the same tests on the PCI loop's functions (tools/lab/vm.sh --ivshmem 2).
if [ "${XPU_DRV_PCI:-}" = 1 ]; then
	xpu_begin 13
	xpu_case "PCI loop: drivers/net/hw/irq.py" test_irq_py
	xpu_case "PCI loop: drivers/net/napi_threaded.py" test_napi_threaded_py
	xpu_case "PCI loop: drivers/net/ping.py" test_ping_py
	xpu_case "PCI loop: drivers/net/stats.py" test_stats_py
	xpu_case "PCI loop: drivers/net/napi_id.py" test_napi_id_py
	xpu_case "PCI loop: drivers/net/xdp.py, its IPv6 cases" test_xdp_py
	xpu_case "PCI loop: drivers/net/queues.py" test_queues_py
	xpu_case "PCI loop: drivers/net/ring_reconfig.py" test_ring_reconfig_py
	xpu_case "PCI loop: drivers/net/hw/uso.py" test_uso_py
	xpu_case "PCI loop: drivers/net/hw/rss_drv.py, rss_flow_label.py, rss_input_xfrm.py" \
		test_rss_py
	xpu_case "PCI loop: drivers/net/hw/rss_api.py (its context cases fail as they must)" \
		test_rss_api_py
	xpu_case "PCI loop: drivers/net/hw/nk_qlease.py (its cases fail as they must)" \
		test_nk_qlease_py
	xpu_end
fi
xpu_begin 20
xpu_case "drivers/net/ping.py, NETIF=xpu0, REMOTE_TYPE=netns" test_ping_py
xpu_case "drivers/net/stats.py" test_stats_py
xpu_case "drivers/net/napi_id.py" test_napi_id_py
xpu_case "drivers/net/queues.py" test_queues_py
xpu_case "drivers/net/ring_reconfig.py" test_ring_reconfig_py
xpu_case "drivers/net/gro.py, the peer's qdisc fq, a slow machine" test_gro_py
xpu_case "drivers/net/napi_threaded.py" test_napi_threaded_py
xpu_case "drivers/net/so_txtime.py, a slow machine" test_so_txtime_py
xpu_case "drivers/net/hds.py" test_hds_py
xpu_case "drivers/net/shaper.py" test_shaper_py
xpu_case "drivers/net/hw/tso.py" test_tso_py
xpu_case "drivers/net/hw/uso.py" test_uso_py
xpu_case "drivers/net/hw/rss_drv.py, rss_flow_label.py, rss_input_xfrm.py" test_rss_py
xpu_case "drivers/net/hw/rss_api.py (its context cases fail as they must)" test_rss_api_py
xpu_case "drivers/net/hw/: what a NIC has and xpu has not (every case skips)" test_hw_absent
xpu_case "drivers/net/macsec.py: software MACsec over xpu, a VLAN over it" test_macsec_py
xpu_case "drivers/net/hw/nk_netns.py: xpu0's tc ingress redirects into a netkit namespace" \
	test_nk_netns_py
xpu_case "drivers/net/psp.py: no PSP engine (its cases skip)" test_psp_py
xpu_case "drivers/net/hw/pp_alloc_fail.py: no page pool (it skips)" test_pp_alloc_fail_py
xpu_end
