#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pair mode datapath: packets cross the shared-memory rings both ways, GSO packets cross whole,
# the counters add up on both ends, and the link survives (or goes away cleanly) when it is
# reconfigured, taken down, moved or deleted while traffic flows. An idle link does no work.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

A= B=
ADDR_A=10.99.0.1 ADDR_B=10.99.0.2

# setup_pair [xpuctl args]: xpu0 in namespace $A, xpu1 in $B, addressed and up.
setup_pair() {
	A=$(xpu_netns a) && B=$(xpu_netns b) || fail "cannot create namespaces"
	ip netns exec "$A" xpuctl link add xpu0 --peer xpu1 --peer-netns "$B" \
		--queues "${PAIR_QUEUES:-2}" "$@" ||
		fail "xpuctl link add failed"
	ip -n "$A" addr add $ADDR_A/24 dev xpu0
	ip -n "$A" addr add fd99::1/64 dev xpu0 nodad
	ip -n "$B" addr add $ADDR_B/24 dev xpu1
	ip -n "$B" addr add fd99::2/64 dev xpu1 nodad
	ip -n "$A" link set xpu0 up
	ip -n "$B" link set xpu1 up
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null ||
		fail "no connectivity after bringing the pair up"
}

# quiet_pair: IPv6 off on both ends, so no router or multicast chatter runs behind a test that
# counts packets.
quiet_pair() {
	ip netns exec "$A" sysctl -qw net.ipv6.conf.xpu0.disable_ipv6=1
	ip netns exec "$B" sysctl -qw net.ipv6.conf.xpu1.disable_ipv6=1
}

# iperf_start SERVER_NS: an iperf3 server for one test, ready when this returns.
iperf_start() {
	ip netns exec "$1" iperf3 -s -1 -D -p 5201 >/dev/null || fail "iperf3 -s failed"
	slowwait 5 sh -c "ip netns exec $1 ss -ltn | grep -q ':5201 '" || fail "iperf3 server not listening"
}

# iperf_bytes CLIENT_NS SERVER_ADDR SECONDS [iperf3 args]: TCP test; prints bytes received.
iperf_bytes() {
	local ns=$1 to=$2 t=$3 out
	shift 3
	out=$(ip netns exec "$ns" timeout $((t + 30)) iperf3 -c "$to" -p 5201 -t "$t" -J "$@") ||
		fail "iperf3 to $to failed: $(echo "$out" | grep -m1 '"error"')"
	echo "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["end"]["sum_received"]["bytes"])'
}

test_ping_both_ways() {
	setup_pair
	ip netns exec "$A" ping -q -c 5 -i 0.2 $ADDR_B >/dev/null || fail "ping A -> B failed"
	ip netns exec "$B" ping -q -c 5 -i 0.2 $ADDR_A >/dev/null || fail "ping B -> A failed"
	ip netns exec "$A" ping -q -c 3 -i 0.2 fd99::2 >/dev/null || fail "ping6 A -> B failed"
	ip netns exec "$B" ping -q -c 3 -i 0.2 fd99::1 >/dev/null || fail "ping6 B -> A failed"
	# Fragmented: 8000 bytes over MTU 1500.
	ip netns exec "$A" ping -q -c 3 -i 0.2 -s 8000 $ADDR_B >/dev/null || fail "ping -s 8000 failed"
}

counts() {
	echo "xpu0 tx $(stat "$A" xpu0 tx_packets) -> xpu1 rx $(stat "$B" xpu1 rx_packets);" \
	     "xpu1 tx $(stat "$B" xpu1 tx_packets) -> xpu0 rx $(stat "$A" xpu0 rx_packets)"
}

counts_agree() {
	counts | awk '{ exit !($3 + 0 == $7 + 0 && $10 + 0 == $14 + 0) }'
}

# TCP both ways: what iperf3 received is on the receiver's counters, the two ends' counters
# agree packet for packet, nothing was dropped, and GSO packets crossed whole.
test_iperf_both_ways() {
	local dir from to srv got tx0 rx0 tx1 rx1
	setup_pair
	# Router solicitations and MLD reports in the first seconds of a link would cross while
	# the counters are compared below.
	quiet_pair
	for dir in AB BA; do
		if [ $dir = AB ]; then from=$A srv=$B to=$ADDR_B; else from=$B srv=$A to=$ADDR_A; fi
		iperf_start "$srv"
		rx0=$(stat "$srv" "$([ $dir = AB ] && echo xpu1 || echo xpu0)" rx_bytes)
		got=$(iperf_bytes "$from" "$to" 3) || exit 1
		rx1=$(stat "$srv" "$([ $dir = AB ] && echo xpu1 || echo xpu0)" rx_bytes)
		echo "$dir: iperf3 received $got bytes; the receiver counted $((rx1 - rx0))"
		[ "$got" -gt 1000000 ] || fail "$dir: only $got bytes crossed"
		[ $((rx1 - rx0)) -ge "$got" ] || fail "$dir: receiver counted fewer bytes than iperf3 got"
	done
	# Every packet sent was received. The four counters are read one after the other, so a
	# packet (a late ACK, neighbour chatter) may cross between two reads: read until they
	# agree, for a few seconds at most.
	slowwait 20 counts_agree || fail "sent and received packet counts differ: $(counts)"
	counts
	for d in "$A xpu0" "$B xpu1"; do
		set -- $d
		[ "$(stat "$1" "$2" tx_dropped)$(stat "$1" "$2" rx_dropped)$(stat "$1" "$2" rx_errors)" = 000 ] ||
			fail "$2 dropped or refused packets"
	done
	# GSO: the bulk direction's packets average above the largest frame of the MTU (1514
	# bytes), which only unsegmented GSO packets can make. How far above is TCP's choice, not
	# xpu's: it sizes its GSO packets by its rate (about 28 KB here, 2 KB in a CI run whose
	# guest sent ten times slower).
	rx1=$(stat "$B" xpu1 rx_bytes) tx0=$(stat "$B" xpu1 rx_packets)
	echo "xpu1 average packet: $((rx1 / tx0)) bytes"
	[ $((rx1 / tx0)) -gt 1514 ] || fail "GSO packets did not cross whole"
}

test_jumbo_mtu() {
	setup_pair
	ip -n "$A" link set xpu0 mtu 65535 || fail "MTU 65535 refused"
	ip -n "$B" link set xpu1 mtu 65535 || fail "MTU 65535 refused"
	ip netns exec "$A" ping -q -c 3 -i 0.2 -M do -s 65000 $ADDR_B >/dev/null ||
		fail "a 65000-byte unfragmented ping did not cross"
	iperf_start "$B"
	iperf_bytes "$A" $ADDR_B 2 >/dev/null || exit 1
}

# iperf_bg SECONDS [iperf3 args]: iperf3 A -> B for SECONDS in the background ($IPERF_PID),
# reporting every second into $IPERF_LOG; returns after one second of it.
iperf_bg() {
	local t=$1
	shift
	iperf_start "$B"
	IPERF_LOG=$(mktemp)
	ip netns exec "$A" timeout $((t + 30)) iperf3 -c $ADDR_B -p 5201 -t "$t" -i 1 --forceflush "$@" \
		>"$IPERF_LOG" 2>&1 &
	IPERF_PID=$!
	sleep 1
}

# iperf_carried: the iperf3 of iperf_bg reported data moving in at least one interval (a test
# "under traffic" is not, if iperf3 never got going).
iperf_carried() {
	slowwait 10 awk '$4 == "sec" && $5 > 0 { ok = 1 } END { exit !ok }' "$IPERF_LOG" ||
		fail "iperf3 carried nothing: $(tr '\n' ' ' <"$IPERF_LOG")"
}

# iperf_ended_itself: waits for the iperf3 of iperf_bg, whose connection the test broke. With
# --snd-timeout it must end by itself, reporting the broken connection, well before timeout(1)
# kills it (status 124): a hang means the stack kept its sockets waiting on a link that is gone.
iperf_ended_itself() {
	local rc
	wait "$IPERF_PID"
	rc=$?
	[ "$rc" != 124 ] || fail "iperf3 hung after its connection's link went away: $(tail -n 3 "$IPERF_LOG" | tr '\n' ' ')"
	[ "$rc" != 0 ] || fail "iperf3 reported success across a link that went away"
	echo "iperf3 ended by itself (status $rc): $(grep -m1 -i error "$IPERF_LOG")"
}

test_mtu_change_under_traffic() {
	local m
	setup_pair
	iperf_bg 8
	for m in 9000 1280 65535 1500; do
		ip -n "$A" link set xpu0 mtu $m || fail "MTU $m refused on xpu0"
		ip -n "$B" link set xpu1 mtu $m || fail "MTU $m refused on xpu1"
		sleep 1
	done
	wait $IPERF_PID || fail "iperf3 failed across MTU changes"
	ip netns exec "$A" ping -q -c 2 -i 0.2 $ADDR_B >/dev/null || fail "no ping after MTU changes"
}

# xps NS DEV Q: the CPUs (as a number, bit i for CPU i) that transmit on DEV's TX queue Q.
xps() {
	echo $((16#$(ip netns exec "$1" cat "/sys/class/net/$2/queues/tx-$3/xps_cpus" | tr -d ,)))
}

# xps_want N Q: what xps should say for queue Q of N: CPU i transmits on queue i mod N, for
# every possible CPU (the driver's map, like virtio-net's, covers those, not just the online
# ones; in the test VM they are the same as nproc's).
xps_want() {
	local c m=0
	for c in $(tr ',' '\n' </sys/devices/system/cpu/possible |
		awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }'); do
		[ $((c % $1)) = "$2" ] && m=$((m | 1 << c))
	done
	echo $m
}

test_channels_under_traffic() {
	local q
	setup_pair
	ip netns exec "$A" ethtool -l xpu0 | grep -A4 'Pre-set' | grep -q 'Combined:.*2' ||
		fail "ethtool -l does not show 2 combined channels"
	# Each CPU has its own TX queue (CPU i on queue i mod n), as virtio-net sets it up.
	for q in 0 1; do
		[ "$(xps "$A" xpu0 $q)" = "$(xps_want 2 $q)" ] ||
			fail "XPS: tx-$q has CPUs $(xps "$A" xpu0 $q), not $(xps_want 2 $q) ($(nproc) CPUs, 2 queues)"
	done
	iperf_bg 6
	ip netns exec "$A" ethtool -L xpu0 combined 1 || fail "ethtool -L combined 1 failed"
	ip netns exec "$B" ethtool -L xpu1 combined 1 || fail "ethtool -L combined 1 failed"
	[ "$(xps "$A" xpu0 0)" = "$(xps_want 1 0)" ] ||
		fail "XPS: after -L combined 1, tx-0 has CPUs $(xps "$A" xpu0 0), not every CPU's ($(xps_want 1 0))"
	sleep 1
	ip netns exec "$A" ethtool -L xpu0 combined 2 || fail "ethtool -L combined 2 failed"
	ip netns exec "$A" ethtool -L xpu0 combined 3 2>/dev/null && fail "ethtool -L above the maximum accepted"
	wait $IPERF_PID || fail "iperf3 failed across channel changes"
	[ "$(ip netns exec "$A" ethtool -l xpu0 | grep -A4 'Current' | awk '/Combined/ {print $2}')" = 2 ] ||
		fail "channel count not 2 after the refused change"
}

# ethtool -G under traffic: both ends' rx and tx depths, down to the least (8) and back, while
# iperf3 runs: nothing is lost (iperf3 completes, ping after, no packet dropped on a full ring
# and no peer error on either end: TCP would hide a loss), ethtool -g shows what was set.
test_ringparam_under_traffic() {
	local r d
	setup_pair
	iperf_bg 6
	iperf_carried
	for r in "rx 8 tx 8" "rx 256 tx 8" "rx 8 tx 256" "rx 64 tx 32"; do
		# shellcheck disable=SC2086
		ip netns exec "$A" ethtool -G xpu0 $r && ip netns exec "$B" ethtool -G xpu1 $r ||
			fail "ethtool -G $r failed"
		sleep 1
	done
	wait $IPERF_PID || fail "iperf3 failed across ring changes"
	ip netns exec "$A" ping -q -c 5 -i 0.2 $ADDR_B >/dev/null || fail "ping lost at rx 64 tx 32"
	r=$(ip netns exec "$B" ethtool -g xpu1 | awk '/^(RX|TX):/ { print $2 }' | xargs)
	[ "$r" = "256 256 64 32" ] || fail "ethtool -g shows $r, not 256 256 64 32"
	for d in "$A xpu0" "$B xpu1"; do
		# shellcheck disable=SC2086
		set -- $d
		r=$(($(estat "$1" "$2" 'tx[0-9]+_drop_ring_full') +
			$(estat "$1" "$2" '(rx|tx)[0-9]+_peer_errors')))
		[ "$r" = 0 ] || fail "$2: $r packets dropped on a full ring or peer errors"
	done
}

test_down_up_under_traffic() {
	local before after
	setup_pair
	iperf_bg 8
	ip -n "$A" link set xpu0 down
	sleep 1
	ip -n "$A" link set xpu0 up
	# The reopened end still counts what it sends (the counters it reports are the ones its
	# rings use): the four pings below are at least four more packets.
	before=$(stat "$A" xpu0 tx_packets)
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null || fail "no ping after xpu0 down/up"
	ip netns exec "$A" ping -q -c 3 -i 0.2 $ADDR_B >/dev/null || fail "pings lost after xpu0 down/up"
	after=$(stat "$A" xpu0 tx_packets)
	[ $((after - before)) -ge 4 ] ||
		fail "xpu0 counted $((after - before)) packets sent after down/up, for 4 pings at least"
	ip -n "$B" link set xpu1 down
	sleep 1
	ip -n "$B" link set xpu1 up
	wait $IPERF_PID || fail "iperf3 did not survive down/up of either end"
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null || fail "no ping after down/up"
}

# The connection's link goes away under it: iperf3 was moving data, and then ends by itself.
test_delete_under_traffic() {
	setup_pair
	iperf_bg 20 --snd-timeout 3000
	iperf_carried
	ip -n "$B" link del xpu1 || fail "deleting the peer under traffic failed"
	link_exists xpu0 -n "$A" && fail "xpu0 survived"
	iperf_ended_itself
}

# The server's end moves to another namespace (where nothing listens): the connection breaks
# and iperf3 ends by itself; then TCP to a server in the new namespace works.
test_netns_move_under_traffic() {
	local C got
	setup_pair
	C=$(xpu_netns c) || fail "cannot create netns"
	iperf_bg 20 --snd-timeout 3000
	iperf_carried
	ip -n "$B" link set xpu1 netns "$C" || fail "moving xpu1 under traffic failed"
	ip -n "$C" addr add $ADDR_B/24 dev xpu1
	ip -n "$C" link set xpu1 up
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null ||
		fail "no ping to the moved end"
	iperf_ended_itself
	iperf_start "$C"
	got=$(iperf_bytes "$A" $ADDR_B 2) || exit 1
	echo "iperf3 to the moved end: $got bytes"
	[ "$got" -gt 1000000 ] || fail "only $got bytes reached the moved end"
}

test_unload_under_traffic() {
	setup_pair
	iperf_bg 6
	modprobe -r xpu || fail "modprobe -r xpu under traffic failed"
	link_exists xpu0 -n "$A" && fail "xpu0 survived the unload"
	kill $IPERF_PID 2>/dev/null
	wait $IPERF_PID
	modprobe xpu || fail "reload failed"
}

# Elastic signaling: once traffic stops, nothing runs: no NAPI polls, no doorbells. (IPv6 is
# off on this pair: its router and multicast chatter would be traffic.)
test_idle_link_is_quiet() {
	local n0 n1 d0 d1
	setup_pair
	quiet_pair
	iperf_start "$B"
	iperf_bytes "$A" $ADDR_B 2 >/dev/null || exit 1
	sleep 1
	n0="$(estat "$A" xpu0 'rx[0-9]+_napi_polls') $(estat "$B" xpu1 'rx[0-9]+_napi_polls')"
	d0="$(estat "$A" xpu0 'tx[0-9]+_doorbells') $(estat "$B" xpu1 'tx[0-9]+_doorbells')"
	sleep 10
	n1="$(estat "$A" xpu0 'rx[0-9]+_napi_polls') $(estat "$B" xpu1 'rx[0-9]+_napi_polls')"
	d1="$(estat "$A" xpu0 'tx[0-9]+_doorbells') $(estat "$B" xpu1 'tx[0-9]+_doorbells')"
	echo "NAPI polls (xpu0 xpu1): $n0 -> $n1; doorbells: $d0 -> $d1"
	[ "${n0% *}" -gt 0 ] || fail "no NAPI polls counted during traffic"
	[ "$n0" = "$n1" ] || fail "NAPI polled on an idle link"
	[ "$d0" = "$d1" ] || fail "doorbells rang on an idle link"
}

# coal NS DEV FIELD: a value of ethtool -c ("rx-usecs", "rx-frames", "Adaptive RX")
coal() {
	ip netns exec "$1" ethtool -c "$2" | awk -F': *' -v f="$3" '$1 == f { split($2, v, " "); print v[1] }'
}

# ratio of doorbells rung by xpu0 to packets it sent, in per mille, over one iperf3 run
doorbells_per_mille() {
	local d0 p0 d1 p1
	d0=$(estat "$A" xpu0 'tx[0-9]+_doorbells') p0=$(stat "$A" xpu0 tx_packets)
	iperf_start "$B"
	iperf_bytes "$A" $ADDR_B 3 >/dev/null || exit 1
	d1=$(estat "$A" xpu0 'tx[0-9]+_doorbells') p1=$(stat "$A" xpu0 tx_packets)
	echo $(((d1 - d0) * 1000 / (p1 - p0)))
}

# ethtool -C: rx-usecs/rx-frames on the receiver cut the sender's doorbells; adaptive-rx
# (DIM) runs; changes under traffic lose nothing; an idle link keeps no timer running.
test_coalesce() {
	local base coalesced out n0 n1
	setup_pair
	ip netns exec "$A" sysctl -qw net.ipv6.conf.xpu0.disable_ipv6=1
	ip netns exec "$B" sysctl -qw net.ipv6.conf.xpu1.disable_ipv6=1
	[ "$(coal "$B" xpu1 rx-usecs) $(coal "$B" xpu1 rx-frames) $(coal "$B" xpu1 'Adaptive RX')" = "0 1 off" ] ||
		fail "defaults are not rx-usecs 0, rx-frames 1, adaptive off"
	base=$(doorbells_per_mille) || exit 1
	# 2 ms: long enough, even on an emulated CPU, for the timer to find packets waiting.
	ip netns exec "$B" ethtool -C xpu1 rx-usecs 2000 rx-frames 32 || fail "ethtool -C failed"
	[ "$(coal "$B" xpu1 rx-usecs) $(coal "$B" xpu1 rx-frames)" = "2000 32" ] ||
		fail "ethtool -c does not show rx-usecs 2000 rx-frames 32"
	coalesced=$(doorbells_per_mille) || exit 1
	echo "doorbells per 1000 packets: $base without coalescing, $coalesced with"
	[ $((coalesced * 4)) -le $((base * 3)) ] || fail "coalescing did not cut the doorbells by a quarter"
	ip netns exec "$A" ping -q -c 5 -i 0.2 $ADDR_B >/dev/null || fail "ping lost with coalescing"
	# Changes under traffic, adaptive on and off.
	iperf_bg 6
	ip netns exec "$B" ethtool -C xpu1 adaptive-rx on || fail "adaptive-rx on failed"
	[ "$(coal "$B" xpu1 'Adaptive RX')" = on ] || fail "ethtool -c does not show adaptive-rx on"
	sleep 2
	ip netns exec "$B" ethtool -C xpu1 adaptive-rx off rx-usecs 0 rx-frames 1 || fail "reset failed"
	ip netns exec "$A" ethtool -C xpu0 rx-usecs 50 rx-frames 8 || fail "ethtool -C on xpu0 failed"
	wait $IPERF_PID || fail "iperf3 failed across coalescing changes"
	# Idle: the one timer after the last packet fires, then nothing.
	sleep 1
	n0="$(estat "$A" xpu0 'rx[0-9]+_napi_polls') $(estat "$B" xpu1 'rx[0-9]+_napi_polls')"
	sleep 5
	n1="$(estat "$A" xpu0 'rx[0-9]+_napi_polls') $(estat "$B" xpu1 'rx[0-9]+_napi_polls')"
	[ "$n0" = "$n1" ] || fail "NAPI kept polling on an idle coalesced link ($n0 -> $n1)"
	# Refused: out of range (EINVAL and a message), unsupported (EOPNOTSUPP).
	out=$(ip netns exec "$B" ethtool -C xpu1 rx-usecs 20000 2>&1) && fail "rx-usecs 20000 accepted"
	echo "$out" | grep -q 'rx-usecs must be at most 10000' || fail "rx-usecs 20000: unclear error: $out"
	ip netns exec "$B" ethtool -C xpu1 tx-usecs 5 2>/dev/null && fail "tx-usecs accepted"
	[ "$(coal "$B" xpu1 rx-usecs)" = 0 ] || fail "a refused change changed rx-usecs"
}

# priv_flag NS DEV FLAG: on or off, as ethtool --show-priv-flags says
priv_flag() {
	ip netns exec "$1" ethtool --show-priv-flags "$2" | awk -F': *' -v f="$3" '$1 == f { print $2 }'
}

# napi_threads DEV: how many kernel threads poll DEV's NAPIs (napi/DEV-ID)
napi_threads() {
	cat /proc/[0-9]*/comm 2>/dev/null | grep -c "^napi/$1-"
}

# busy_napis N: if the kernel's ynl CLI is here, napi-get shows N of xpu1's NAPIs busy-polling
busy_napis() {
	[ -f "$YNL_CLI" ] && python3 -c 'import yaml, jsonschema' 2>/dev/null || return 0
	netdev "$B" --dump napi-get --json "{\"ifindex\": $(ifindex "$B" xpu1)}" |
		grep -c "'threaded': 'busy-poll'" | grep -qx "$1" ||
		fail "napi-get does not show $1 of xpu1's NAPIs busy-polling"
}

# sent_and_rung: "packets doorbells" that xpu0 sent and rang over one 3 s iperf3 run
sent_and_rung() {
	local d0 p0
	d0=$(estat "$A" xpu0 'tx[0-9]+_doorbells') p0=$(stat "$A" xpu0 tx_packets)
	iperf_start "$B"
	iperf_bytes "$A" $ADDR_B 3 >/dev/null || exit 1
	echo "$(($(stat "$A" xpu0 tx_packets) - p0)) $(($(estat "$A" xpu0 'tx[0-9]+_doorbells') - d0))"
}

# The polling baseline, ethtool's busy-poll flag: the receiver's NAPIs poll in kernel threads
# without pause, never re-arm, and the sender rings no doorbell while traffic flows. Off
# again, the link signals as before; an unknown flag is refused.
test_busy_poll_flag() {
	local on again off
	setup_pair
	quiet_pair
	[ "$(priv_flag "$B" xpu1 busy-poll)" = off ] || fail "busy-poll is not off by default"
	[ "$(napi_threads xpu1)" = 0 ] || fail "NAPI threads before busy-poll"
	ip netns exec "$B" ethtool --set-priv-flags xpu1 busy-poll on || fail "busy-poll on failed"
	[ "$(priv_flag "$B" xpu1 busy-poll)" = on ] || fail "busy-poll does not read back on"
	[ "$(napi_threads xpu1)" -ge 2 ] || fail "no NAPI thread for each of xpu1's two queues"
	busy_napis 2
	on=$(sent_and_rung) || exit 1
	# The mode outlives a down/up: each NAPI's config keeps it.
	ip -n "$B" link set xpu1 down
	ip -n "$B" link set xpu1 up
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null || fail "no traffic after down/up"
	busy_napis 2
	again=$(sent_and_rung) || exit 1
	ip netns exec "$B" ethtool --set-priv-flags xpu1 busy-poll off || fail "busy-poll off failed"
	[ "$(priv_flag "$B" xpu1 busy-poll)" = off ] || fail "busy-poll does not read back off"
	off=$(sent_and_rung) || exit 1
	echo "packets and doorbells xpu0 sent and rang: $on with busy-poll, $again after a down/up, $off without"
	# Enough packets that two doorbells tell (without the flag it rings about one per packet).
	# A 3 s run carries about a thousand when the machine runs other VMs too (984, 1539 and
	# 1142 in one cold run).
	[ "${on% *}" -ge 200 ] || fail "too little traffic with busy-poll to tell"
	# The first packet may find the receiver armed from before the flag: one doorbell per queue.
	[ "${on#* }" -le 2 ] || fail "the sender rang doorbells to a busy-polling receiver"
	[ "${again#* }" -le 2 ] || fail "doorbells to a busy-polling receiver after its down/up"
	[ "${off#* }" -ge 10 ] || fail "no doorbells once busy-poll is off"
	ip netns exec "$B" ethtool --set-priv-flags xpu1 no-such-flag on 2>/dev/null &&
		fail "an unknown private flag was accepted"
	[ "$(priv_flag "$B" xpu1 busy-poll)" = off ] || fail "a refused change changed busy-poll"
}

# busy_poll_rx NS: packets busy polling took from a NAPI in NS (TcpExt BusyPollRxPackets)
busy_poll_rx() {
	ip netns exec "$1" awk '/^TcpExt:/ { if (!n) { for (i = 2; i <= NF; i++) k[i] = $i; n = 1 }
		else for (i = 2; i <= NF; i++) if (k[i] == "BusyPollRxPackets") print $i }' /proc/net/netstat
}

# ping_pong MODE: 200 UDP round trips from $A to $B, both sides waiting as MODE says
# (xpu_busy_poll.py); prints the NAPI id the server's socket saw and what busy polling took in
# each namespace.
ping_pong() {
	local a0 b0 out log server
	log=$(mktemp)
	a0=$(busy_poll_rx "$A") b0=$(busy_poll_rx "$B")
	ip netns exec "$B" python3 "$XPU_DIR/xpu_busy_poll.py" server $ADDR_B 7000 200 "$1" >"$log" 2>&1 &
	server=$!
	# Python's start, on an emulated CPU the machine shares with other VMs: seconds, at times
	# more than five (the cold make check of stop 38 missed it at 5 s).
	slowwait 30 grep -q ready "$log" || fail "$1: the server did not start: $(cat "$log")"
	out=$(ip netns exec "$A" python3 "$XPU_DIR/xpu_busy_poll.py" client $ADDR_B 7000 200 "$1") ||
		fail "$1: $out"
	wait $server || fail "$1 server: $(cat "$log")"
	echo "$(sed -n 's/^napi-id //p' "$log") $(($(busy_poll_rx "$A") - a0)) $(($(busy_poll_rx "$B") - b0))"
	rm -f "$log"
}

# The kernel's NAPI busy polling works on xpu: a socket learns the id of the NAPI that received
# its packets, and with SO_BUSY_POLL (or epoll's busy-poll parameters) its waits poll that NAPI.
# Each end defers its doorbells as busy-polling setups do (napi_defer_hard_irqs with
# gro_flush_timeout: after a poll the NAPI does not re-arm, and a timer polls 20 ms later unless
# a busy poller does first), so on a one-CPU VM the packets wait in the ring for the poller
# rather than being delivered from the sender's doorbell. Without busy polling, nothing is.
test_busy_poll_sockets() {
	local ids got d mode
	setup_pair
	quiet_pair
	for d in "$A xpu0" "$B xpu1"; do
		set -- $d
		echo 100 | ip netns exec "$1" tee /sys/class/net/$2/napi_defer_hard_irqs >/dev/null
		echo 20000000 | ip netns exec "$1" tee /sys/class/net/$2/gro_flush_timeout >/dev/null
	done
	# xpu1's NAPI ids, if the kernel's ynl CLI is here to ask.
	ids=$(need_ynl >/dev/null &&
		netdev "$B" --dump napi-get --json "{\"ifindex\": $(ifindex "$B" xpu1)}" |
		grep -o "'id': [0-9]*" | grep -o '[0-9]*')
	for mode in block sock epoll; do
		got=$(ping_pong $mode) || exit 1
		echo "$mode: the server's socket saw NAPI ${got%% *} (xpu1's: $(echo $ids)); busy polling took ${got#* } packets (client, server)"
		set -- $got
		[ "$1" -gt 0 ] || fail "$mode: no NAPI id reached the server's socket"
		[ -z "$ids" ] || echo "$ids" | grep -qx "$1" || fail "$mode: the socket's NAPI id $1 is not xpu1's"
		if [ $mode = block ]; then
			[ "$2" = 0 ] && [ "$3" = 0 ] || fail "busy polling took packets with nobody polling"
		else
			[ "$3" -ge 100 ] || fail "$mode: busy polling took only $3 of the server's 200 packets"
			[ "$2" -ge 100 ] || fail "$mode: busy polling took only $2 of the client's 200 packets"
		fi
	done
}

# napis_linked NS DEV N: DEV has N NAPIs, and each of its RX and TX queues is linked to one
# of them (what ynl's queue-get and napi-get dumps say).
napis_linked() {
	local idx queues napis
	idx=$(ifindex "$1" "$2")
	queues=$(netdev "$1" --dump queue-get --json "{\"ifindex\": $idx}") || fail "queue-get failed"
	napis=$(netdev "$1" --dump napi-get --json "{\"ifindex\": $idx}") || fail "napi-get failed"
	python3 - "$queues" "$napis" "$3" <<'PY'
import ast, sys
queues, napis, n = ast.literal_eval(sys.argv[1]), ast.literal_eval(sys.argv[2]), int(sys.argv[3])
ids = sorted(x["id"] for x in napis)
links = sorted((x["type"], x["id"], x.get("napi-id")) for x in queues)
print(f"NAPIs {ids}; queues (type, index, NAPI) {links}")
if len(ids) != n:
    sys.exit(f"{len(ids)} NAPIs, not {n}")
if any(napi not in ids for _, _, napi in links):
    sys.exit("a queue is not linked to a NAPI of the device")
PY
}

# Each queue is linked to its NAPI, as the netdev family (and busy polling) sees it: two
# NAPIs for two queues; none while the device is down; the same ones, linked again, once it is
# up.
test_queue_napi_links() {
	local before after
	need_ynl
	setup_pair
	before=$(napis_linked "$A" xpu0 2) || fail "xpu0: $before"
	echo "up: $before"
	ip -n "$A" link set xpu0 down
	after=$(napis_linked "$A" xpu0 0) || fail "xpu0 down: $after"
	ip -n "$A" link set xpu0 up
	after=$(napis_linked "$A" xpu0 2) || fail "xpu0 up again: $after"
	echo "up again: $after"
	# Each queue's NAPI keeps its id: its config is per queue, as the netdev family expects.
	[ "${before%%;*}" = "${after%%;*}" ] || fail "the NAPIs changed ids across down/up"
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null || fail "no traffic after down/up"
}

# counters_disagree: prints the first of xpu0's counters whose per-queue sum (ethtool -S) is
# not the netdev's (ip -s), and succeeds; fails if they all agree.
counters_disagree() {
	local c
	for c in tx_packets tx_bytes rx_packets rx_bytes; do
		if [ "$(estat "$A" xpu0 "${c%%_*}[0-9]+_${c#*_}")" != "$(stat "$A" xpu0 $c)" ]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

test_ethtool_stats() {
	local names
	setup_pair
	names=$(ip netns exec "$A" ethtool -S xpu0 | awk -F: 'NR > 1 { gsub(/ /, "", $1); print $1 }')
	for n in rx0_packets rx1_packets rx0_napi_polls tx0_packets tx1_bytes tx0_doorbells \
		 tx0_doorbells_suppressed tx0_ring_full_stops tx0_drop_ring_full rx0_peer_errors; do
		echo "$names" | grep -qx "$n" || fail "ethtool -S has no $n"
	done
	# The per-queue counters add up to the netdev's, on a quiet link after known traffic.
	quiet_pair
	ip netns exec "$A" ping -q -c 20 -i 0.05 $ADDR_B >/dev/null || fail "ping failed"
	sleep 1
	# The two are read one after the other, and an ARP probe may cross in between (the ping
	# left the neighbour to be confirmed): a disagreement an accounting bug makes stays, one a
	# packet in flight makes is gone at the next reading.
	local bad i
	for i in 1 2 3 4 5; do
		bad=$(counters_disagree) || break
		sleep 1
	done
	[ -z "$bad" ] || fail "ethtool -S and ip -s disagree on xpu0 $bad"
	[ "$(stat "$A" xpu0 tx_packets)" -ge 20 ] || fail "xpu0 counted fewer than 20 packets sent"
	ip netns exec "$A" ethtool -i xpu0 | grep -q '^driver: xpu' || fail "ethtool -i: driver is not xpu"
}

# qstats_disagree NS DEV: prints how the netdev family's device-wide queue stats (qstats-get:
# the queues' and the base's, summed by the core) differ from the netdev's counters (ip -s),
# and succeeds; fails if they agree.
qstats_disagree() {
	local q
	q=$(netdev "$1" --dump qstats-get --json "{\"ifindex\": $(ifindex "$1" "$2")}") ||
		{ echo "qstats-get failed"; return 0; }
	python3 - "$q" "$(stat "$1" "$2" rx_packets)" "$(stat "$1" "$2" rx_bytes)" \
		"$(stat "$1" "$2" tx_packets)" "$(stat "$1" "$2" tx_bytes)" <<'PY'
import ast, sys
q = ast.literal_eval(sys.argv[1])
want = dict(zip(["rx-packets", "rx-bytes", "tx-packets", "tx-bytes"], map(int, sys.argv[2:6])))
if len(q) != 1:
    sys.exit(print(f"qstats-get gave {len(q)} entries for the device, not 1"))
bad = [f"{k} {q[0].get(k)} (ip -s: {v})" for k, v in want.items() if q[0].get(k) != v]
if bad:
    sys.exit(print("qstats: " + ", ".join(bad)))
sys.exit(1)
PY
}

# queues_reported NS DEV N: the netdev family reports per-queue stats for N RX and N TX queues,
# indices 0..N-1, each with its packets and bytes (and stops for TX).
queues_reported() {
	local q
	q=$(netdev "$1" --dump qstats-get --json "{\"ifindex\": $(ifindex "$1" "$2"), \"scope\": \"queue\"}") ||
		fail "qstats-get (scope queue) failed"
	python3 - "$q" "$3" <<'PY'
import ast, sys
q, n = ast.literal_eval(sys.argv[1]), int(sys.argv[2])
for t, keys in (("rx", ("rx-packets", "rx-bytes", "rx-alloc-fail")), ("tx", ("tx-packets", "tx-bytes", "tx-stop"))):
    ids = sorted(e["queue-id"] for e in q if e.get("queue-type") == t)
    if ids != list(range(n)):
        sys.exit(f"{t} queues reported: {ids}, not 0..{n - 1}")
    for e in (e for e in q if e.get("queue-type") == t):
        missing = [k for k in keys if k not in e]
        if missing:
            sys.exit(f"{t} queue {e['queue-id']} lacks {missing}")
PY
}

# queue_stat NS DEV TYPE ID KEY: one counter of one queue (qstats-get, scope queue).
queue_stat() {
	netdev "$1" --dump qstats-get --json "{\"ifindex\": $(ifindex "$1" "$2"), \"scope\": \"queue\"}" |
		python3 -c 'import ast, sys
t, i, k = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(sum(e.get(k, 0) for e in ast.literal_eval(sys.stdin.read())
          if e.get("queue-type") == t and e.get("queue-id") == i))' "$3" "$4" "$5"
}

# The netdev family's queue stats (what `ynl netdev qstats-get` and the kernel's stats.py
# read): each queue in use reports its counters, and with the base (the queues not in use) they
# add up to the device's, also after ethtool -L takes away the queue that carried the traffic.
test_qstats() {
	local bad i sent same
	need_ynl
	setup_pair
	quiet_pair
	queues_reported "$A" xpu0 2 || fail "xpu0: per-queue stats"
	# Everything xpu0 sends goes on its queue 1 (xpu1's RSS puts every flow on its queue 1,
	# and xpu0 sends each on the ring of the queue it lands on), so that taking that queue
	# away below leaves what it counted to the base.
	ip netns exec "$B" ethtool -X xpu1 weight 0 1 || fail "ethtool -X xpu1 weight 0 1 failed"
	iperf_start "$B"
	ip netns exec "$A" iperf3 -c $ADDR_B -t 2 >/dev/null || fail "iperf3 failed"
	sent=$(queue_stat "$A" xpu0 tx 1 tx-packets)
	[ "$sent" -ge 100 ] || fail "TX queue 1 counted $sent packets, not the iperf3 run's"
	# The same counters as ethtool -S's (read again if a packet crossed between the readings).
	same=0
	for i in 1 2 3 4 5; do
		if [ "$(queue_stat "$A" xpu0 tx 1 tx-packets)" = "$(estat "$A" xpu0 tx1_packets)" ] &&
		   [ "$(queue_stat "$A" xpu0 tx 1 tx-stop)" = "$(estat "$A" xpu0 tx1_ring_full_stops)" ] &&
		   [ "$(queue_stat "$A" xpu0 rx 0 rx-alloc-fail)" = "$(estat "$A" xpu0 rx0_drop_nomem)" ]; then
			same=1
			break
		fi
		sleep 1
	done
	[ $same = 1 ] || fail "TX queue 1 or RX queue 0: qstats and ethtool -S disagree"
	for step in "2 queues" "1 queue (ethtool -L)"; do
		# As for ethtool -S: a disagreement a packet in flight makes is gone at the next reading.
		for i in 1 2 3 4 5; do
			bad=$(qstats_disagree "$A" xpu0) || break
			sleep 1
		done
		[ -z "$bad" ] || fail "$step: $bad"
		[ "$step" = "2 queues" ] || break
		ip netns exec "$A" ethtool -L xpu0 combined 1 || fail "ethtool -L combined 1 failed"
	done
	queues_reported "$A" xpu0 1 || fail "xpu0 with one queue: per-queue stats"
	echo "TX queue 1 carried $sent packets; after ethtool -L the base holds them"
}

# rss_table NS DEV: DEV's RSS key (hex, no colons) and indirection table, as ethtool -x prints
# them, on two lines.
rss_table() {
	ip netns exec "$1" ethtool -x "$2" | awk '
		/^ *[0-9]+:/ { for (i = 2; i <= NF; i++) t = t " " $i }
		/^RSS hash key:/ { getline; gsub(":", ""); k = $0 }
		END { print k; print substr(t, 2) }'
}

# udp_flows NS SRC DST N: one UDP datagram from each of N source ports of SRC (1024 + I * 7919
# mod 60000, for I below N) to DST:9 (discard: nothing listens, the datagrams are counted and
# dropped).
udp_flows() {
	ip netns exec "$1" python3 - "$2" "$3" "$4" <<-'EOF'
	import socket, sys
	src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
	for i in range(n):
	    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    s.bind((src, 1024 + i * 7919 % 60000))
	    s.sendto(b"rss", (dst, 9))
	    s.close()
	EOF
}

# rss_expect KEY TABLE SRC DST N FIELDS: how many of udp_flows' N datagrams each of the queues
# 0..15 should receive, by the RSS specification's Toeplitz hash (computed here, apart from
# xpu's code) of the fields FIELDS names ("sdfn" letters, as ethtool -N's), space-separated.
rss_expect() {
	python3 - "$@" <<-'EOF'
	import ipaddress, sys
	key = bytes.fromhex(sys.argv[1])
	table = [int(q) for q in sys.argv[2].split()]
	src, dst = (ipaddress.ip_address(a).packed for a in sys.argv[3:5])
	n, fields = int(sys.argv[5]), sys.argv[6]
	def toeplitz(data):
	    k = int.from_bytes(key, "big")
	    h = 0
	    for i in range(len(data) * 8):
	        if data[i // 8] & (0x80 >> (i % 8)):
	            h ^= (k >> (len(key) * 8 - 32 - i)) & 0xffffffff
	    return h
	counts = [0] * 16
	for i in range(n):
	    sport = 1024 + i * 7919 % 60000
	    parts = {"s": src, "d": dst, "f": sport.to_bytes(2, "big"), "n": (9).to_bytes(2, "big")}
	    data = b"".join(parts[f] for f in "sdfn" if f in fields)
	    counts[table[toeplitz(data) % len(table)]] += 1
	print(*counts)
	EOF
}

# rx_per_queue NS DEV: each of DEV's RX queues' packets (ethtool -S), queues 0..15.
rx_per_queue() {
	ip netns exec "$1" ethtool -S "$2" | awk '
		{ k = $1; sub(":", "", k) }
		k ~ /^rx[0-9]+_packets$/ { q = substr(k, 3) + 0; if (q < 16) c[q] = $2 }
		END { for (q = 0; q < 16; q++) printf "%d%s", c[q], q < 15 ? " " : "\n" }'
}

# rss_check N FIELDS WHAT: sends udp_flows' N datagrams from xpu0 and checks that each of
# xpu1's RX queues received exactly what its RSS configuration (key, table, FIELDS) gives.
rss_check() {
	local n=$1 fields=$2 what=$3 kt key table before after want got q
	kt=$(rss_table "$B" xpu1)
	key=$(echo "$kt" | sed -n 1p)
	table=$(echo "$kt" | sed -n 2p)
	[ ${#key} = 80 ] || fail "$what: ethtool -x shows no 40-byte key: '$key'"
	[ "$(echo "$table" | wc -w)" = 128 ] || fail "$what: ethtool -x shows no 128-entry table"
	want=$(rss_expect "$key" "$table" $ADDR_A $ADDR_B "$n" "$fields")
	before=($(rx_per_queue "$B" xpu1))
	udp_flows "$A" $ADDR_A $ADDR_B "$n" || fail "$what: sending failed"
	sleep 0.5
	after=($(rx_per_queue "$B" xpu1))
	got=$(for q in $(seq 0 15); do echo -n "$((after[q] - before[q])) "; done)
	echo "$what: per queue, expected $want, received $got"
	[ "$(echo $got)" = "$want" ] || fail "$what: xpu1's queues did not receive what its RSS gives"
}

# Receive-side scaling across the link: xpu0 sends each flow on the ring that xpu1's RSS
# (its key, indirection table and hashed fields, as ethtool -X and -N set them) gives it, as a
# NIC's RSS queues what it receives: every UDP flow lands on exactly the queue the RSS
# specification's Toeplitz hash, computed here in Python, names; through a new table, a new
# key, fewer hashed fields, and a table that ethtool -L respreads unless it was set.
test_rss_steering() {
	local mac_a mac_b
	PAIR_QUEUES=4 setup_pair
	quiet_pair
	# Permanent neighbours: no ARP probe (which is not IP, and goes where hash 0 goes) adds
	# to the queues' counts.
	mac_a=$(ip netns exec "$A" cat /sys/class/net/xpu0/address)
	mac_b=$(ip netns exec "$B" cat /sys/class/net/xpu1/address)
	ip -n "$A" neigh replace $ADDR_B lladdr "$mac_b" dev xpu0 nud permanent &&
		ip -n "$B" neigh replace $ADDR_A lladdr "$mac_a" dev xpu1 nud permanent ||
		fail "cannot set permanent neighbours"
	ip netns exec "$A" ping -q -c 1 -W 2 $ADDR_B >/dev/null || fail "no ping"
	rss_check 64 sdfn "default table, 4 queues"
	ip netns exec "$B" ethtool -X xpu1 weight 0 0 1 0 || fail "ethtool -X weight 0 0 1 0 failed"
	rss_check 32 sdfn "every bucket on queue 2"
	ip netns exec "$B" ethtool -X xpu1 weight 1 2 0 1 \
		hkey "$(python3 -c 'import os; print(":".join("%02x" % b for b in os.urandom(40)))')" ||
		fail "ethtool -X with a new key failed"
	rss_check 64 sdfn "weights 1 2 0 1, a random key"
	ip netns exec "$B" ethtool -N xpu1 rx-flow-hash udp4 sd || fail "ethtool -N udp4 sd failed"
	rss_check 16 sd "UDP hashing its addresses only"
	ip netns exec "$B" ethtool -N xpu1 rx-flow-hash udp4 sdfn || fail "ethtool -N udp4 sdfn failed"
	# A table that was set stays through ethtool -L (which may not take away a queue it uses);
	# the default follows the count.
	ip netns exec "$B" ethtool -L xpu1 combined 3 2>/dev/null &&
		fail "ethtool -L took away queue 3, which the table uses"
	ip netns exec "$B" ethtool -X xpu1 weight 1 2 1 || fail "ethtool -X weight 1 2 1 failed"
	ip netns exec "$B" ethtool -L xpu1 combined 3 || fail "ethtool -L combined 3 failed"
	rss_check 64 sdfn "a set table kept through ethtool -L"
	ip netns exec "$B" ethtool -X xpu1 default || fail "ethtool -X default failed"
	[ "$(rss_table "$B" xpu1 | sed -n 2p | cut -d' ' -f1-6)" = "0 1 2 0 1 2" ] ||
		fail "ethtool -X default did not spread over 3 queues"
	ip netns exec "$B" ethtool -L xpu1 combined 2 || fail "ethtool -L combined 2 failed"
	[ "$(rss_table "$B" xpu1 | sed -n 2p | cut -d' ' -f1-4)" = "0 1 0 1" ] ||
		fail "the default table did not follow ethtool -L"
	rss_check 64 sdfn "the default table of 2 queues"
	# The packets the peer sends the other way go by xpu0's own table, on the ring it names if
	# the sender uses that many queues, else that number modulo the sender's queues in use.
	ip netns exec "$A" ethtool -X xpu0 weight 0 0 0 1 || fail "ethtool -X xpu0 failed"
	local before after q n
	for n in 4 2; do
		ip netns exec "$B" ethtool -L xpu1 combined $n || fail "ethtool -L xpu1 combined $n failed"
		q=$((3 % n))
		before=$(estat "$A" xpu0 "rx${q}_packets")
		ip netns exec "$B" ping -q -c 5 -i 0.1 $ADDR_A >/dev/null || fail "ping from xpu1 failed"
		after=$(estat "$A" xpu0 "rx${q}_packets")
		[ $((after - before)) -ge 5 ] ||
			fail "xpu1 with $n queues: xpu0's queue $q received $((after - before)) of 5 pings"
	done
}

# Bug (b) of issue 13: a poll that finds its device without state (the poll trampoline's early
# return) must complete NAPI, or the context stays scheduled for good: no poll again, and the
# device cannot go down (napi_disable waits for it forever). Fault injection (debugfs
# xpu/poll_no_state) sends the next poll down that path. Should the bug come back, this case
# wedges the kernel (RTNL held by the stuck `ip link set down`): it is the last of the suite,
# which is the last of its VM (tools/lab/check.sh).
test_poll_without_state() {
	local knob=/sys/kernel/debug/xpu/poll_no_state pids=() p end
	setup_pair
	[ -w $knob ] || skip "no $knob (debugfs)"
	trap 'echo 0 >$knob' EXIT	# a failed case leaves nothing armed
	ip netns exec "$A" ping -q -c 1 -W 2 $ADDR_B >/dev/null || fail "no ping before the fault"
	echo 1 >$knob
	# A poll takes the fault; the packets it left in the ring may be lost.
	ip netns exec "$A" ping -q -c 3 -i 0.2 -W 1 $ADDR_B >/dev/null
	[ "$(cat $knob)" = 0 ] || fail "no poll took the fault"
	ip -n "$A" link set xpu0 down &
	pids+=($!)
	ip -n "$B" link set xpu1 down &
	pids+=($!)
	end=$((SECONDS + 20))
	for p in "${pids[@]}"; do
		while kill -0 "$p" 2>/dev/null; do
			[ $SECONDS -lt $end ] || fail "ip link set down hangs after the fault: a NAPI left scheduled"
			sleep 0.2
		done
	done
	ip -n "$A" link set xpu0 up && ip -n "$B" link set xpu1 up || fail "up failed"
	slowwait 10 ip netns exec "$A" ping -q -c 1 -W 1 $ADDR_B >/dev/null || fail "no traffic after down/up"
}

xpu_begin 20
command -v iperf3 >/dev/null && command -v ethtool >/dev/null && command -v ping >/dev/null ||
	{ ktap_skip_all "iperf3, ethtool and ping are needed"; exit "$KSFT_SKIP"; }
xpu_case "ping both ways, IPv4, IPv6, fragmented" test_ping_both_ways
xpu_case "iperf3 TCP both ways: bytes and packets add up, GSO crosses whole" test_iperf_both_ways
xpu_case "MTU 65535: 65000-byte frames and TCP" test_jumbo_mtu
xpu_case "MTU change under traffic" test_mtu_change_under_traffic
xpu_case "ethtool -L under traffic" test_channels_under_traffic
xpu_case "ethtool -G under traffic: rx and tx depths down to 8 and back" \
	test_ringparam_under_traffic
xpu_case "down/up of either end under traffic" test_down_up_under_traffic
xpu_case "link delete under traffic" test_delete_under_traffic
xpu_case "netns move under traffic" test_netns_move_under_traffic
xpu_case "module unload under traffic" test_unload_under_traffic
xpu_case "idle link: no NAPI polls, no doorbells" test_idle_link_is_quiet
xpu_case "ethtool -C: coalescing cuts doorbells, adaptive-rx, changes under traffic" test_coalesce
xpu_case "ethtool -S per queue, ethtool -i" test_ethtool_stats
xpu_case "busy-poll flag: NAPI threads poll, no doorbells; off again" test_busy_poll_flag
xpu_case "busy-polling sockets poll xpu's NAPI (SO_BUSY_POLL, epoll), NAPI ids reach them" test_busy_poll_sockets
xpu_case "each queue linked to its NAPI (netdev family), again after down/up" test_queue_napi_links
xpu_case "queue stats (netdev family): per queue, and with the base the device's counters" test_qstats
xpu_case "RSS: each flow on the queue the receiver's key, table and fields give it" test_rss_steering
xpu_case "a poll without device state completes NAPI (fault injection)" test_poll_without_state
xpu_end
