#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pair mode: `ip link add` creates both ends; deleting either deletes both; the carrier is on
# only while both ends are up; the ends may live in different namespaces.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

carrier() { # carrier DEV [ip args]: prints 1 or 0
	ip "${@:2}" -j link show dev "$1" | grep -q '"LOWER_UP"' && echo 1 || echo 0
}

test_default_peer() {
	ip link add xpu0 type xpu || fail "ip link add xpu0 type xpu failed"
	link_exists xpu1 || fail "no default peer xpu1"
	ip link show xpu0 | grep -q 'xpu0@xpu1' || fail "xpu0 does not name xpu1 as its peer"
	ip link show xpu1 | grep -q 'xpu1@xpu0' || fail "xpu1 does not name xpu0 as its peer"
	ip link del xpu0
	# Without a name, both ends are numbered.
	ip link add type xpu || fail "ip link add type xpu failed"
	[ "$(ip -o link show type xpu | wc -l)" = 2 ] || fail "expected two devices"
	ip link del xpu0
}

test_delete_either_end() {
	ip link add xpu0 type xpu || fail "add failed"
	ip link del xpu1 || fail "deleting the peer failed"
	link_exists xpu0 && fail "xpu0 survived the deletion of its peer"
	return 0
}

test_carrier() {
	ip link add xpu0 type xpu || fail "add failed"
	ip link set xpu0 up
	[ "$(carrier xpu0)" = 0 ] || fail "carrier on with the peer down"
	ip link set xpu1 up
	[ "$(carrier xpu0)$(carrier xpu1)" = 11 ] || fail "carrier off with both ends up"
	ip link set xpu0 down
	[ "$(carrier xpu1)" = 0 ] || fail "xpu1 kept its carrier after xpu0 went down"
	ip link set xpu0 up
	[ "$(carrier xpu0)$(carrier xpu1)" = 11 ] || fail "carrier did not come back"
	ip link del xpu0
}

test_ends_in_two_netns() {
	local ns
	ns=$(xpu_netns pair) || fail "cannot create netns"
	ip link add xpu0 type xpu || fail "add failed"
	ip link set xpu1 netns "$ns" || fail "moving the peer failed"
	ip -d link show xpu0 | grep -q "link-netns $ns" || fail "xpu0 does not show the peer's netns"
	ip link set xpu0 up
	ip -n "$ns" link set xpu1 up
	[ "$(carrier xpu0)$(carrier xpu1 -n "$ns")" = 11 ] || fail "no carrier across namespaces"
	ip netns del "$ns" || fail "netns del failed"
	slowwait 5 sh -c "! ip link show xpu0 >/dev/null 2>&1" ||
		fail "xpu0 survived the deletion of its peer's namespace"
}

test_unload_with_pairs() {
	local ns
	ns=$(xpu_netns unload) || fail "cannot create netns"
	ip link add xpu0 type xpu || fail "add failed"
	ip link set xpu1 netns "$ns"
	ip link set xpu0 up
	ip -n "$ns" link set xpu1 up
	modprobe -r xpu || fail "unload failed"
	link_exists xpu0 && fail "xpu0 survived the unload"
	link_exists xpu1 -n "$ns" && fail "xpu1 survived the unload"
	return 0
}

test_xpuctl_peer() {
	local ns out
	command -v xpuctl >/dev/null || skip "xpuctl not in PATH"
	ns=$(xpu_netns ctl) || fail "cannot create netns"
	xpuctl link add xpa --peer xpb --peer-netns "$ns" || fail "xpuctl link add failed"
	link_exists xpa || fail "xpa missing"
	link_exists xpb -n "$ns" || fail "peer xpb not in $ns"
	link_exists xpb && fail "peer xpb in the wrong namespace"
	# Refusals: a clear message and a non-zero exit; nothing created.
	out=$(xpuctl link add xpa --peer xpz 2>&1) && fail "duplicate name accepted"
	echo "$out" | grep -q 'File exists' || fail "unclear error: $out"
	link_exists xpz && fail "the refused request left a peer behind"
	out=$(xpuctl link add xpc --peer xpc 2>&1) && fail "same name for both ends accepted"
	echo "$out" | grep -q 'cannot also be named' || fail "unclear error: $out"
	out=$(xpuctl link add xpd --peer-netns xpu-no-such-ns 2>&1) && fail "missing netns accepted"
	echo "$out" | grep -q 'cannot open network namespace' || fail "unclear error: $out"
	link_exists xpd && fail "the refused request left xpd behind"
	xpuctl link del xpa || fail "xpuctl link del failed"
	link_exists xpb -n "$ns" && fail "peer survived xpuctl link del"
	return 0
}

test_queues_and_ring_size() {
	local out want_q bad want
	command -v xpuctl >/dev/null || skip "xpuctl not in PATH"
	want_q=$(( $(nproc) < 4 ? $(nproc) : 4 ))
	ip link add xpu0 type xpu || fail "add failed"
	out=$(xpuctl link show xpu0) || fail "xpuctl link show failed: $out"
	[ "$out" = "xpu0: queues $want_q ring-size 256" ] || fail "defaults: got '$out'"
	[ "$(ls /sys/class/net/xpu1/queues | grep -c '^tx-')" = "$want_q" ] ||
		fail "peer does not run $want_q TX queues"
	xpuctl link add xpq --peer xpr --queues 3 --ring-size 512 || fail "add with options failed"
	out=$(xpuctl link show xpr --json)
	[ "$out" = '{"ifname":"xpr","queues":3,"ring_size":512}' ] || fail "peer config: got '$out'"
	[ "$(ls /sys/class/net/xpq/queues | grep -c '^rx-')" = 3 ] || fail "xpq does not run 3 RX queues"
	# ethtool -g shows the size on both ends, as maximum and current; ethtool -G changes the
	# current (what is used of the ring), within 8 and the maximum, which the link fixes.
	for d in xpq xpr; do
		[ "$(ethtool -g "$d" | grep -cE '^(RX|TX):[[:space:]]+512$')" = 4 ] ||
			fail "ethtool -g $d: $(ethtool -g "$d" 2>&1)"
	done
	ethtool -G xpq rx 64 tx 8 || fail "ethtool -G xpq rx 64 tx 8 failed"
	[ "$(ethtool -g xpq | grep -E '^(RX|TX):' | awk '{print $2}' | xargs)" = "512 512 64 8" ] ||
		fail "ethtool -g after -G: $(ethtool -g xpq 2>&1)"
	out=$(ethtool -G xpq rx 4 2>&1) && fail "ethtool -G accepted rx 4"
	echo "$out" | grep -q "ring sizes are from 8 to the link's ring size" ||
		fail "ethtool -G rx 4: unclear refusal: $out"
	ethtool -G xpq tx 1024 2>/dev/null && fail "ethtool -G accepted tx 1024, past the maximum"
	[ "$(ethtool -g xpq | grep -E '^(RX|TX):' | awk '{print $2}' | xargs)" = "512 512 64 8" ] ||
		fail "a refused ethtool -G changed something: $(ethtool -g xpq 2>&1)"
	# Refused with EINVAL and a message; nothing is created.
	for bad in "--queues 0" "--queues 17" "--ring-size 100" "--ring-size 4" "--ring-size 8192"; do
		# shellcheck disable=SC2086
		out=$(xpuctl link add xpbad $bad 2>&1) && fail "accepted $bad"
		case $bad in
		--queues*) want="queue count must be 1 to 16" ;;
		*) want="ring size must be a power of two from 8 to 4096" ;;
		esac
		echo "$out" | grep -qF "$want: Invalid argument" ||
			fail "$bad: not EINVAL with the kernel's message: $out"
		link_exists xpbad && fail "$bad left xpbad behind"
	done
	# numtxqueues/numrxqueues cap the default.
	ip link add xpn numtxqueues 1 numrxqueues 1 type xpu || fail "numtxqueues 1 refused"
	out=$(xpuctl link show xpn)
	[ "$out" = "xpn: queues 1 ring-size 256" ] || fail "numtxqueues 1: got '$out'"
	out=$(xpuctl link show lo 2>&1) && fail "showed lo as an xpu link"
	echo "$out" | grep -q 'not an xpu link' || fail "unclear error for lo: $out"
	return 0
}

# rss_of DEV: DEV's RSS indirection table, as ethtool -x prints it, on one line.
rss_of() {
	ethtool -x "$1" | awk '/^ *[0-9]+:/ { for (i = 2; i <= NF; i++) t = t " " $i } END { print substr(t, 2) }'
}

# RSS, as ethtool shows and sets it, per end: a Toeplitz key of 40 bytes and a table of 128
# entries spread over the queues, receive hashing on, TCP and UDP hashing addresses and ports;
# what xpu has not (another hash function, contexts, other fields) refused, nothing changed.
# (xpu_datapath.sh checks where the packets go.)
test_rss_config() {
	local out key
	xpuctl link add xpq --peer xpr --queues 3 || fail "add failed"
	out=$(ethtool -x xpq) || fail "ethtool -x failed"
	echo "$out" | grep -q 'with 3 RX ring(s)' || fail "ethtool -x: not 3 rings: $out"
	[ "$(rss_of xpq | wc -w)" = 128 ] || fail "ethtool -x: not 128 entries: $out"
	[ "$(rss_of xpq | cut -d' ' -f1-7)" = "0 1 2 0 1 2 0" ] || fail "default table: $(rss_of xpq)"
	key=$(echo "$out" | grep -A1 '^RSS hash key' | tail -n1)
	echo "$key" | grep -qE '^([0-9a-f]{2}:){39}[0-9a-f]{2}$' || fail "ethtool -x: no 40-byte key: $key"
	echo "$out" | grep -q 'toeplitz: on' || fail "ethtool -x: not Toeplitz: $out"
	ethtool -k xpq | grep -q '^receive-hashing: on' || fail "receive-hashing is not on"
	# Refused: EOPNOTSUPP or EINVAL, and nothing changes.
	out=$(ethtool -X xpq hfunc xor 2>&1) && fail "ethtool -X hfunc xor accepted"
	out=$(ethtool -X xpq context new 2>&1) && fail "ethtool -X context new accepted: $out"
	echo "$out" | grep -q 'Operation not supported' || fail "context new: unclear refusal: $out"
	# (ethtool 6.1 exits 0 when -N fails: its message says.)
	out=$(ethtool -N xpq rx-flow-hash tcp4 sdv 2>&1)
	echo "$out" | grep -q 'Invalid argument' || fail "a VLAN tag in the hash accepted: $out"
	out=$(ethtool -N xpq rx-flow-hash sctp4 sdfn 2>&1)
	echo "$out" | grep -q 'Operation not supported' || fail "SCTP ports in the hash accepted: $out"
	[ "$(rss_of xpq | cut -d' ' -f1-7)" = "0 1 2 0 1 2 0" ] || fail "a refusal changed the table"
	ethtool -x xpq | grep -qxF "$key" || fail "a refusal changed the key"
	# The fields: by default, addresses and ports; any of them per TCP or UDP flow.
	out=$(ethtool -n xpq rx-flow-hash tcp4) || fail "ethtool -n rx-flow-hash tcp4 failed"
	[ "$(echo "$out" | grep -cE '^(IP [SD]A|L4 bytes)')" = 4 ] || fail "tcp4 does not hash sdfn: $out"
	out=$(ethtool -n xpq rx-flow-hash sctp4) || fail "ethtool -n rx-flow-hash sctp4 failed"
	[ "$(echo "$out" | grep -cE '^IP [SD]A')" = 2 ] || fail "sctp4 does not hash its addresses: $out"
	ethtool -N xpq rx-flow-hash udp6 s || fail "ethtool -N udp6 s failed"
	out=$(ethtool -n xpq rx-flow-hash udp6)
	[ "$(echo "$out" | grep -cE '^(IP [SD]A|L4 bytes)')" = 1 ] || fail "udp6 after -N s: $out"
	ethtool -n xpr rx-flow-hash udp6 | grep -q '^L4 bytes 2' || fail "the peer's fields changed too"
	# A table set with ethtool -X is kept: ethtool -L may not take a queue it uses.
	ethtool -X xpq weight 0 0 1 || fail "ethtool -X weight 0 0 1 failed"
	[ "$(rss_of xpq | tr ' ' '\n' | sort -u | xargs)" = 2 ] || fail "weight 0 0 1: $(rss_of xpq)"
	ethtool -L xpq combined 2 2>/dev/null && fail "ethtool -L took away a queue the set table uses"
	ethtool -X xpq equal 2 || fail "ethtool -X equal 2 failed"
	ethtool -L xpq combined 2 || fail "ethtool -L combined 2 refused with a table of 2 queues"
	[ "$(rss_of xpr | cut -d' ' -f1-4)" = "0 1 2 0" ] || fail "the peer's table changed: $(rss_of xpr)"
	return 0
}

# Bad configuration: EINVAL with an extack message naming the problem, and nothing created
# or changed. xpu_nl.py sends raw attributes (2 = IFLA_XPU_QUEUES, 3 = IFLA_XPU_RING_SIZE;
# 4 to 7, the role, the handshake's state and status and the link's number, are read-only).
test_bad_input() {
	local nl=$XPU_DIR/xpu_nl.py out case
	command -v python3 >/dev/null || skip "python3 not installed"
	while IFS='|' read -r case want; do
		# shellcheck disable=SC2086
		out=$($nl xpbad $case) && fail "accepted '$case'"
		echo "'$case' -> $out"
		[ "$out" = "EINVAL: $want" ] || fail "'$case': expected 'EINVAL: $want'"
		link_exists xpbad && fail "'$case' left xpbad behind"
	done <<-EOF
		2=0|queue count must be 1 to 16
		2=17|queue count must be 1 to 16
		3=100|ring size must be a power of two from 8 to 4096
		3=4|ring size must be a power of two from 8 to 4096
		3=8192|ring size must be a power of two from 8 to 4096
		99=1|Unknown attribute type
		2=2 8=1|Unknown attribute type
		2=2 4=1|read-only attribute
		7=1|read-only attribute
	EOF
	out=$($nl xpok 2=2 3=64) || fail "valid raw request refused: $out"
	link_exists xpok || fail "valid raw request created nothing"
	# MTU outside 68..65535, at creation and later.
	out=$(ip link add xpm mtu 67 type xpu 2>&1) && fail "MTU 67 accepted"
	echo "$out" | grep -q 'mtu less than device minimum' || fail "MTU 67: unclear error: $out"
	link_exists xpm && fail "MTU 67 left xpm behind"
	out=$(ip link set xpok mtu 65536 2>&1) && fail "MTU 65536 accepted"
	echo "$out" | grep -q 'mtu greater than device maximum' || fail "MTU 65536: unclear error: $out"
	[ "$(cat /sys/class/net/xpok/mtu)" = 1500 ] || fail "a refused MTU changed the MTU"
	return 0
}

xpu_begin 10
modprobe xpu
xpu_case "ip link add xpu0 creates xpu0 and peer xpu1" test_default_peer
xpu_case "deleting either end deletes both" test_delete_either_end
xpu_case "carrier only while both ends are up" test_carrier
xpu_case "ends in two namespaces" test_ends_in_two_netns
xpu_case "unload with pairs in two namespaces" test_unload_with_pairs
xpu_case "xpuctl link add: peer name and netns, refusals" test_xpuctl_peer
xpu_case "queue count and ring size: defaults, set, ethtool -g/-G, refused" \
	test_queues_and_ring_size
xpu_case "RSS: ethtool -x/-X, -n/-N rx-flow-hash, refusals, the table through ethtool -L" \
	test_rss_config
xpu_case "bad input: EINVAL and an extack message, nothing created" test_bad_input
xpu_end
