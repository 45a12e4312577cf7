#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Split network namespaces over a pair link: namespace $H plays the host half, $D the DPU half,
# both carrying the pod address. Unmodified programs (python3 -m http.server, curl, nc) reach
# each other over 127.0.0.1 and the pod address in both directions; a port claimed by both
# halves is refused; an unprivileged caller gets EPERM; the kernel's ynl CLI drives the family
# from the spec; thousands of malformed messages get errors and no oops; deleting the split,
# the link or a namespace, or losing the peer, tears down cleanly.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

H= D=
POD=10.77.0.5
SPEC=$XPU_PYTREE/Documentation/netlink/specs/xpu.yaml

h() { ip netns exec "$H" "$@"; }
d() { ip netns exec "$D" "$@"; }

# peer_state NS: what the half in NS knows of the other ("split", "unknown", ...).
peer_state() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n 's/.*"peer":"\([a-z]*\)".*/\1/p'
}

# setup_link [SUFFIX]: the pair xpu0 ($H) - xpu1 ($D), up, both ends with the pod address.
setup_link() {
	H=$(xpu_netns "host${1:-}") && D=$(xpu_netns "dpu${1:-}") || fail "cannot create namespaces"
	h xpuctl link add xpu0 --peer xpu1 --peer-netns "$D" || fail "xpuctl link add failed"
	ip -n "$H" addr add $POD/24 dev xpu0
	ip -n "$D" addr add $POD/24 dev xpu1
	ip -n "$H" link set xpu0 up
	ip -n "$D" link set xpu1 up
}

# setup_split [SUFFIX]: setup_link, then both halves split as pod "web" and paired.
setup_split() {
	setup_link "$@"
	h xpuctl splitns create web --dev xpu0 --addr $POD --half host || fail "host half: create failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --half dpu || fail "DPU half: create failed"
	slowwait 10 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json | grep -o '\"peer\":\"split\"')\" ] &&
		[ \"\$(ip netns exec $D xpuctl splitns show --json | grep -o '\"peer\":\"split\"')\" ]" ||
		fail "the halves did not pair: host sees '$(peer_state "$H")', DPU sees '$(peer_state "$D")'"
}

# knows NS PORT HALF [SECONDS]: NS's split lists PORT as HALF's, within SECONDS (default 5).
knows() {
	slowwait "${4:-5}" sh -c "ip netns exec $1 xpuctl port list | grep -q '^$2 $3\$'"
}

# register SIDE PORT: h or d registers PORT to its half, and the other half learns of it.
register() {
	local other=$H half=dpu
	[ "$1" = h ] && other=$D half=host
	"$1" xpuctl port add "$2" || fail "port add $2 failed"
	knows "$other" "$2" $half || fail "the other half did not learn that the $half owns $2"
}

# wait_listen NS PORT [LOG]: until something listens on TCP PORT in NS (LOG: its output).
wait_listen() {
	slowwait 60 sh -c "ip netns exec $1 ss -Htln 'sport = :$2' | grep -q ." && return 0
	[ -n "${3:-}" ] && cat "$3"
	fail "nothing listens on port $2 in $1"
}

test_create_show_delete() {
	local out range
	setup_split
	out=$(h xpuctl splitns show) || fail "show failed"
	echo "$out"
	echo "$out" | grep -q "web: host half, addr $POD" || fail "show: wrong half or address"
	echo "$out" | grep -q "ephemeral 32768-49151" || fail "show: wrong ephemeral range"
	echo "$out" | grep -q "peer split, its ephemeral 49152-60999" || fail "show: wrong peer view"
	range=$(h sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
	[ "$range" = "32768 49151" ] || fail "host half's ip_local_port_range is '$range'"
	range=$(d sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
	[ "$range" = "49152 60999" ] || fail "DPU half's ip_local_port_range is '$range'"
	out=$(h xpuctl splitns create again --dev xpu0 --addr $POD --half host 2>&1) &&
		fail "a second split of one namespace was accepted"
	echo "$out" | grep -q "split already (web)" || fail "no clear refusal: $out"
	out=$(d xpuctl splitns delete other 2>&1) && fail "delete by a wrong name was accepted"
	echo "$out" | grep -q "another name" || fail "no clear refusal: $out"
	d xpuctl splitns delete web || fail "delete failed"
	range=$(d sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
	[ "$range" = "32768 60999" ] || fail "the DPU half's port range was not restored: '$range'"
	slowwait 5 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json | grep -o '\"peer\":\"unsplit\"')\" ]" ||
		fail "the host half did not see the DPU half leave: '$(peer_state "$H")'"
	out=$(d xpuctl splitns show) || fail "show after delete failed"
	[ "$out" = "not split" ] || fail "show after delete: '$out'"
	d xpuctl splitns create web --dev xpu1 --addr $POD --half dpu || fail "re-create failed"
	slowwait 10 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json | grep -o '\"peer\":\"split\"')\" ]" ||
		fail "no pairing after re-create: '$(peer_state "$H")'"
}

# An application on the host half, reached from the DPU half over 127.0.0.1 and the pod address.
test_http_dpu_to_host() {
	local log=/tmp/xpu-http-$$.log body
	setup_split
	mkdir -p /tmp/xpu-www-$$ && echo "hello from the host half" >/tmp/xpu-www-$$/index.html
	# Background programs must not hold the case's output pipe (xpu_case waits for it to close).
	h python3 -m http.server 8080 --bind 0.0.0.0 --directory /tmp/xpu-www-$$ >"$log" 2>&1 &
	wait_listen "$H" 8080 "$log"
	register h 8080
	body=$(d curl -sS --max-time 10 http://127.0.0.1:8080/index.html) ||
		fail "curl 127.0.0.1:8080 from the DPU half failed"
	[ "$body" = "hello from the host half" ] || fail "wrong body: '$body'"
	body=$(d curl -sS --max-time 10 http://$POD:8080/index.html) ||
		fail "curl $POD:8080 from the DPU half failed"
	[ "$body" = "hello from the host half" ] || fail "wrong body over the pod address"
	# Larger than lo's and the link's MTU: GSO segments cross whole.
	head -c 3000000 /dev/urandom >/tmp/xpu-www-$$/big
	body=$(d curl -sS --max-time 30 http://127.0.0.1:8080/big | md5sum)
	[ "$body" = "$(md5sum </tmp/xpu-www-$$/big)" ] || fail "3 MB over 127.0.0.1 arrived corrupted"
	grep -q '^127.0.0.1 .*GET /index.html' "$log" || fail "the server did not see 127.0.0.1: $(cat "$log")"
	h xpuctl splitns show | tee /dev/stderr | grep -Eq "delivered from across: [1-9]" ||
		fail "the host half counted no delivered packets"
	h xpuctl stats xpu0 --json | grep -Eq '"split_delivered":[1-9]' ||
		fail "xpuctl stats shows no split counters: $(h xpuctl stats xpu0 --json)"
	kill $!
	rm -rf /tmp/xpu-www-$$ "$log"
}

# A sidecar on the DPU half, reached from the host half: both directions of a TCP stream.
test_nc_host_to_dpu() {
	local out=/tmp/xpu-nc-$$ got pid
	setup_split
	d sh -c "timeout 30 nc -l 127.0.0.1 15001 >$out 2>/dev/null" &
	pid=$!
	wait_listen "$D" 15001
	register d 15001
	echo "to the sidecar" | h nc -N -w 10 127.0.0.1 15001 || fail "nc to 127.0.0.1:15001 failed"
	wait $pid
	got=$(cat $out)
	[ "$got" = "to the sidecar" ] || fail "the sidecar got '$got'"
	# And back: the DPU half answers on the same connection.
	d sh -c "echo from the sidecar | timeout 30 nc -N -l 127.0.0.1 15001 >/dev/null 2>&1" &
	pid=$!
	wait_listen "$D" 15001
	got=$(h nc -w 10 127.0.0.1 15001 </dev/null) || fail "nc from 127.0.0.1:15001 failed"
	[ "$got" = "from the sidecar" ] || fail "the host got '$got'"
	wait $pid
	# UDP: a datagram to the DPU half's port.
	d sh -c "timeout 30 nc -u -l -W 1 127.0.0.1 15001 >$out 2>/dev/null" &
	pid=$!
	slowwait 60 sh -c "ip netns exec $D ss -Huln 'sport = :15001' | grep -q ." ||
		fail "the UDP listener did not start"
	echo "udp datagram" | h nc -u -w 1 127.0.0.1 15001
	wait $pid
	got=$(cat $out)
	[ "$got" = "udp datagram" ] || fail "UDP: the DPU half got '$got'"
	rm -f $out
}

test_port_conflict() {
	local out
	setup_split
	register h 8080
	out=$(d xpuctl port add 8080 2>&1) && fail "both halves own port 8080"
	echo "$out"
	echo "$out" | grep -q "the other half owns the port: Address already in use" ||
		fail "no EADDRINUSE with a reason: $out"
	out=$(d xpuctl port add 40000 2>&1) && fail "port in the host's ephemeral range accepted"
	echo "$out" | grep -q "ephemeral range: Address already in use" || fail "no clear refusal: $out"
	out=$(h xpuctl port add 8080 2>&1) && fail "a second add of one port was accepted"
	echo "$out" | grep -q "File exists" || fail "no EEXIST: $out"
	out=$(d xpuctl port del 8080 2>&1) && fail "the DPU half deleted the host's port"
	echo "$out" | grep -q "does not own the port: No such file" || fail "no ENOENT: $out"
	h xpuctl port del 8080 || fail "port del failed"
	d xpuctl port add 8080 || fail "port 8080 still blocked after the host let it go"
}

test_bad_requests() {
	local out
	setup_link
	out=$(h xpuctl splitns create web --dev xpu0 --addr $POD 2>&1) && fail "pair link without half"
	echo "$out" | grep -q "say which half" || fail "no clear refusal: $out"
	out=$(h xpuctl splitns create web --dev lo --addr $POD --half host 2>&1) &&
		fail "lo accepted as the link"
	echo "$out" | grep -q "no xpu link has this ifindex.*No such device" || fail "no ENODEV: $out"
	out=$(h xpuctl splitns create web --dev xpu0 --addr 127.0.0.1 --half host 2>&1) &&
		fail "loopback pod address accepted"
	echo "$out" | grep -q "must be a unicast address" || fail "no clear refusal: $out"
	out=$(h xpuctl port add 80 2>&1) && fail "port add without a split accepted"
	echo "$out" | grep -q "not split" || fail "no clear refusal: $out"
	out=$(h xpuctl splitns create web --dev xpu0 --addr $POD --half host --ports 5000-4000 2>&1) &&
		fail "inverted range accepted"
	echo "$out" | grep -q "range" || fail "no clear refusal: $out"
	return 0
}

test_unprivileged() {
	local out
	command -v setpriv >/dev/null || skip "setpriv not installed"
	setup_split
	out=$(h setpriv --reuid=65534 --regid=65534 --clear-groups xpuctl port add 9000 2>&1) &&
		fail "an unprivileged caller registered a port"
	echo "$out" | grep -q "Operation not permitted" || fail "no EPERM: $out"
	out=$(h setpriv --reuid=65534 --regid=65534 --clear-groups xpuctl splitns delete 2>&1) &&
		fail "an unprivileged caller deleted the split"
	echo "$out" | grep -q "Operation not permitted" || fail "no EPERM: $out"
	# Reading needs no privilege.
	h setpriv --reuid=65534 --regid=65534 --clear-groups xpuctl splitns show >/dev/null ||
		fail "an unprivileged caller cannot read the split"
}

# ynl_xpu ARGS...: the kernel's ynl CLI on uapi/xpu.yaml in the host half's namespace, the spec
# taken as checked (--no-schema: the check took about half of each call's time). The first call
# of test_ynl_cli checks it against the kernel's genetlink schema.
ynl_xpu() {
	h python3 "$YNL_CLI" --spec "$SPEC" --no-schema "$@"
}

# The kernel's own netlink CLI, given uapi/xpu.yaml, is a client independent of xpuctl.
test_ynl_cli() {
	local out
	[ -f "$YNL_CLI" ] && [ -f "$SPEC" ] || skip "ynl and the xpu spec are not installed"
	python3 -c 'import yaml, jsonschema' 2>/dev/null || skip "python3 yaml or jsonschema missing"
	setup_link
	local idx
	idx=$(ip -n "$H" -j link show xpu0 | sed -n 's/.*"ifindex":\([0-9]*\).*/\1/p')
	h python3 "$YNL_CLI" --spec "$SPEC" --do splitns-create \
		--json "{\"name\": \"web\", \"ifindex\": $idx, \"addr\": \"$POD\", \"half\": \"host\"}" ||
		fail "ynl splitns-create failed"
	out=$(ynl_xpu --do splitns-get) || fail "ynl splitns-get failed"
	echo "$out"
	echo "$out" | grep -q "'name': 'web'" || fail "ynl does not see the name"
	echo "$out" | grep -q "'half': 'host'" || fail "ynl does not see the half"
	ynl_xpu --do port-add --json '{"port": 8443}' ||
		fail "ynl port-add failed"
	out=$(ynl_xpu --dump port-get) || fail "ynl port-get dump failed"
	echo "$out" | grep -q "'port': 8443" || fail "ynl dump misses port 8443: $out"
	h xpuctl port list | grep -q '^8443 host$' || fail "xpuctl does not see ynl's port"
	out=$(ynl_xpu --do port-add --json '{"port": 0}' 2>&1) &&
		fail "port 0 accepted"
	echo "$out" | grep -qi "invalid\|error" || fail "no error for port 0: $out"
	out=$(ynl_xpu --do splitns-delete --json '{"name": "nope"}' 2>&1) &&
		fail "delete by a wrong name accepted"
	echo "$out" | grep -q "another name" || fail "no extack from the kernel: $out"
	ynl_xpu --do splitns-delete --json '{"name": "web"}' ||
		fail "ynl splitns-delete failed"
}

test_notifications() {
	local out=/tmp/xpu-ntf-$$ pid i
	[ -f "$YNL_CLI" ] && [ -f "$SPEC" ] || skip "ynl and the xpu spec are not installed"
	setup_split
	# Python and the spec's schema check start slowly under TCG (over 30 s on a loaded machine),
	# so the changes repeat until ynl (unbuffered, so what it heard is in the file at once) has
	# reported them all, within a bound.
	h timeout 200 python3 -u "$YNL_CLI" --spec "$SPEC" --subscribe monitor --duration 180 \
		>$out 2>&1 &
	pid=$!
	for i in $(seq 80); do
		sleep 2
		h xpuctl port add 7000 && h xpuctl port del 7000 || fail "port add/del failed"
		d xpuctl port add 7001 && d xpuctl port del 7001 || fail "port add/del failed"
		grep -q "'port': 7000" $out && grep -q "'name': 'splitns-change-ntf'" $out && break
	done
	pkill -f -- "--subscribe monitor"
	wait $pid
	grep -c "'name': '[a-z-]*'" $out | sed 's/^/notifications heard: /'
	grep -q "'name': 'port-change-ntf'" $out || { cat $out; fail "no port notification"; }
	grep -q "'port': 7000" $out || fail "no notification for port 7000"
	grep -q "'name': 'splitns-change-ntf'" $out ||
		fail "no notification when the peer's ports changed"
	rm -f $out
}

# delivered NS: NS's split's count of packets from the other half delivered through lo.
delivered() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n 's/.*"delivered":\([0-9]*\).*/\1/p'
}

# refused NS: NS's split's count of frames from the other half it refused.
refused() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n 's/.*"refused":\([0-9]*\).*/\1/p'
}

# The other half is not trusted: what it sends raw onto the link is checked like the rest.
test_hostile_half() {
	local before after
	setup_split
	register h 8080
	before=$(delivered "$H")
	rbefore=$(refused "$H")
	# A "steered" SYN for a port the host half does not own (not registered, not ephemeral).
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 9999 || fail "inject failed"
	sleep 1
	after=$(delivered "$H")
	[ "$after" = "$before" ] || fail "a packet for an unowned port was delivered ($before -> $after)"
	[ "$(refused "$H")" = $((rbefore + 1)) ] ||
		fail "the refused packet was not counted ($rbefore -> $(refused "$H"))"
	# The same for a registered port is delivered (the check above is not vacuous).
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 || fail "inject failed"
	for _ in $(seq 10); do [ "$(delivered "$H")" -gt "$after" ] && break; sleep 0.5; done
	[ "$(delivered "$H")" -gt "$after" ] || fail "a SYN for the registered port was not delivered"
	# Malformed port snapshots change nothing, and each is counted.
	rbefore=$(refused "$H")
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 garbage 300 || fail "inject failed"
	slowwait 5 sh -c "[ \$(ip netns exec $H xpuctl splitns show --json |
		sed -n 's/.*\"refused\":\([0-9]*\).*/\1/p') -ge $((rbefore + 300)) ]" ||
		fail "300 malformed snapshots, $(($(refused "$H") - rbefore)) counted refused"
	[ "$(peer_state "$H")" = split ] || fail "garbage snapshots changed the peer state: $(peer_state "$H")"
	h xpuctl port list | grep -q '^8080 host$' || fail "garbage snapshots changed the ports"
	dmesg | grep -q "malformed port snapshot" || fail "no word in dmesg about malformed snapshots"
	return 0
}

test_fuzz() {
	local out
	setup_split
	out=$(h python3 "$XPU_DIR/xpu_genl_fuzz.py" 10000) || fail "fuzz run failed: $out"
	echo "$out"
	# Still serving, both halves.
	h xpuctl splitns show >/dev/null || fail "the family no longer answers"
	ip link show dev lo >/dev/null
}

test_peer_loss_and_teardown() {
	local out
	setup_split
	register h 8080
	ip -n "$H" link set xpu0 down
	slowwait 5 sh -c "[ \"\$(ip netns exec $D xpuctl splitns show --json | grep -o '\"peer\":\"unknown\"')\" ]" ||
		fail "the DPU half still sees its peer: '$(peer_state "$D")'"
	d xpuctl port list | grep -q 8080 && fail "the DPU half kept the lost peer's ports"
	# With the peer gone, nothing is steered: 127.0.0.1:8080 is just a closed local port.
	d curl -s --max-time 5 http://127.0.0.1:8080/ && fail "something answered for the lost peer"
	ip -n "$H" link set xpu0 up
	knows "$D" 8080 host 10 ||
		fail "the peer's ports did not come back with the link"
	# Deleting the link unsplits both halves and restores their port ranges.
	ip -n "$H" link del xpu0 || fail "link del failed"
	out=$(h xpuctl splitns show)
	[ "$out" = "not split" ] || fail "the host half survived its link: '$out'"
	out=$(d xpuctl splitns show)
	[ "$out" = "not split" ] || fail "the DPU half survived its link: '$out'"
	[ "$(d sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')" = "32768 60999" ] ||
		fail "the DPU half's port range was not restored"
	# Deleting a namespace takes its half (and, in pair mode, the link) with it.
	setup_split 2
	ip netns del "$D" || fail "netns del failed"
	slowwait 30 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show)\" = 'not split' ]" ||
		fail "the host half survived the DPU namespace"
}

# both_see STATE WHY: within 10 s, each half sees the other as STATE ("split", "conflict").
both_see() {
	slowwait 10 sh -c "ip netns exec $H xpuctl splitns show --json | grep -q '\"peer\":\"$1\"' &&
		ip netns exec $D xpuctl splitns show --json | grep -q '\"peer\":\"$1\"'" ||
		fail "$2: the host half sees '$(peer_state "$H")', the DPU half '$(peer_state "$D")', not $1"
}

# Halves that announce different pod addresses are not one pod: each sees the other in
# conflict, for IPv4, for IPv6, and for an IPv6 address on one half only; agreeing pairs them.
test_address_mismatch() {
	local a6=fd00:77::5
	setup_link
	h xpuctl splitns create web --dev xpu0 --addr $POD --addr6 $a6 --half host ||
		fail "host half: create failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 fd00:77::6 --half dpu ||
		fail "DPU half: create failed"
	both_see conflict "different IPv6 addresses"
	d xpuctl splitns delete web || fail "delete failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --half dpu || fail "re-create failed"
	both_see conflict "an IPv6 address on the host half only"
	d xpuctl splitns delete web || fail "delete failed"
	d xpuctl splitns create web --dev xpu1 --addr 10.77.0.6 --addr6 $a6 --half dpu ||
		fail "re-create failed"
	both_see conflict "different IPv4 addresses"
	d xpuctl splitns delete web || fail "delete failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 $a6 --half dpu ||
		fail "re-create failed"
	both_see split "the same addresses"
}

xpu_require
for c in xpuctl python3 curl nc ss; do
	command -v $c >/dev/null || { ktap_skip_all "$c not installed"; exit "$KSFT_SKIP"; }
done
trap xpu_cleanup EXIT
modprobe xpu || { ktap_skip_all "cannot load xpu"; exit "$KSFT_SKIP"; }
xpu_kmemleak_clear
ktap_print_header
ktap_set_plan 13
xpu_case "create, show, delete and re-create a split namespace" test_create_show_delete
xpu_case "http.server on the host half, curl on the DPU half, over 127.0.0.1" test_http_dpu_to_host
xpu_case "nc between the halves over 127.0.0.1, TCP both ways and UDP" test_nc_host_to_dpu
xpu_case "a port claimed by both halves is refused with EADDRINUSE" test_port_conflict
xpu_case "bad requests get an errno and a message" test_bad_requests
xpu_case "an unprivileged caller gets EPERM" test_unprivileged
xpu_case "the kernel's ynl CLI drives the family from uapi/xpu.yaml" test_ynl_cli
xpu_case "the monitor group hears port and peer changes" test_notifications
xpu_case "a hostile other half: raw frames for unowned ports, malformed snapshots" test_hostile_half
xpu_case "10000 malformed messages get errors, no oops" test_fuzz
xpu_case "peer loss, link deletion and netns deletion tear down cleanly" test_peer_loss_and_teardown
xpu_case "halves that disagree on the pod address (IPv4 or IPv6) are in conflict" test_address_mismatch
modprobe -r xpu
xpu_case "no leaks" xpu_kmemleak_clean
ktap_finished
