#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Native XDP on a pair: a program attached with `ip link set ... xdpdrv` runs on each received
# frame before any skb is built, and its verdicts do what they say: XDP_PASS to the stack,
# XDP_DROP and XDP_ABORTED gone, XDP_TX back out through our TX ring, XDP_REDIRECT out of a
# device (the same one, through its ndo_xdp_xmit; and into xpu from a veth's program), each
# counted per queue in ethtool -S.
# A program without multi-buffer support bounds the peer's MTU (extack) and turns its GSO off,
# as veth does; frames too large for a page run a multi-buffer program as skbs (generic XDP).
# The programs are xpu_xdp.bpf.c: UDP port 9001 drop, 9002 reply by XDP_TX, 9003 reply by
# XDP_REDIRECT, 9004 abort, all else pass; and on a veth, 9006 redirected into xpu.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

PROG=$(dirname "$(readlink -f "$0")")/xpu_xdp.bpf.o
NS=""

# xdp_pair [XPUCTL_ARGS...]: xdp0 (10.77.0.1) here, xdp1 (10.77.0.2) in $NS, both up.
xdp_pair() {
	NS=$(xpu_netns xdp) || fail "cannot create netns"
	# Not xpu0: a VM with PCI functions has netdevs of that name.
	xpuctl link add xdp0 --peer xdp1 --peer-netns "$NS" "$@" || fail "xpuctl link add failed"
	# IPv4 only: IPv6's router solicitations and MLD reports would pass through the program
	# too, and the cases count what passes.
	sysctl -qw net.ipv6.conf.xdp0.disable_ipv6=1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.xdp1.disable_ipv6=1
	ip addr add 10.77.0.1/24 dev xdp0
	ip -n "$NS" addr add 10.77.0.2/24 dev xdp1
	ip link set xdp0 up
	ip -n "$NS" link set xdp1 up
}

# attach PROGRAM: xdp1 runs PROGRAM of xpu_xdp.bpf.o natively (by name: its "xdp" section
# has two).
attach() {
	local out
	[ -f "$PROG" ] || fail "$PROG was not built (clang, libbpf-dev)"
	out=$(ip -n "$NS" link set xdp1 xdpdrv obj "$PROG" program "$1" 2>&1) ||
		fail "attaching $1 natively failed: $out"
	ip -n "$NS" -j -d link show xdp1 | grep -q '"xdp":{"mode":1' ||
		fail "xdp1 does not report a native program"
}

# echoes PORT N SIZE: udp_echoes from xdp0 to xdp1's PORT (xpu_lib.sh).
echoes() {
	udp_echoes "" 10.77.0.1 10.77.0.2 "$@"
}

# xstat NAME: xdp1's per-queue counter NAME summed over its queues (rx or tx, e.g. rx_xdp_tx).
xstat() {
	estat "$NS" xdp1 "${1%%_*}[0-9]+_${1#*_}"
}

test_verdicts() {
	local n=40 got pass
	xdp_pair
	attach xpu_xdp
	ping -c 2 -W 5 10.77.0.2 >/dev/null || fail "ping through XDP_PASS failed"
	got=$(echoes 9002 $n 64)
	[ "$got" = $n ] || fail "XDP_TX: $got of $n replies"
	[ "$(xstat rx_xdp_tx)" = $n ] || fail "rx xdp_tx is $(xstat rx_xdp_tx), not $n"
	got=$(echoes 9003 $n 64)
	[ "$got" = $n ] || fail "XDP_REDIRECT: $got of $n replies"
	[ "$(xstat rx_xdp_redirect)" = $n ] || fail "rx xdp_redirect is $(xstat rx_xdp_redirect)"
	# Both replies left through xdp1's TX ring: XDP_TX's and the redirected ones.
	[ "$(xstat tx_xdp_xmit)" = $((2 * n)) ] || fail "tx xdp_xmit is $(xstat tx_xdp_xmit)"
	got=$(echoes 9001 $n 64)
	[ "$got" = 0 ] || fail "XDP_DROP: $got replies"
	got=$(echoes 9004 $n 64)
	[ "$got" = 0 ] || fail "XDP_ABORTED: $got replies"
	[ "$(xstat rx_xdp_drop)" = $((2 * n)) ] || fail "rx xdp_drop is $(xstat rx_xdp_drop)"
	# Datagrams to a port the program lets pass reach the stack (which answers with port
	# unreachable, not a reply).
	pass=$(xstat rx_xdp_pass)
	got=$(echoes 9010 $n 64)
	[ "$got" = 0 ] || fail "XDP_PASS: $got replies from a port nobody listens on"
	pass=$(($(xstat rx_xdp_pass) - pass))
	[ "$pass" -ge $n ] && [ "$pass" -le $((n + 2)) ] ||
		fail "$pass counted as passed for $n datagrams (and at most an ARP exchange)"
	[ "$(xstat rx_xdp_generic)" = 0 ] || fail "frames of 64 bytes did not run natively"
	# A verdict is no loss: no drop counted in the device's statistics.
	[ "$(stat "$NS" xdp1 rx_dropped)" = 0 ] || fail "xdp1 counted rx drops"
	[ "$(xstat tx_xdp_xmit_err)" = 0 ] || fail "a reply found no room"
	ip -n "$NS" link set xdp1 xdpdrv off || fail "detaching failed"
	got=$(echoes 9002 5 64)
	[ "$got" = 0 ] || fail "replies with the program detached"
}

# A single-buffer program runs natively on every frame: the peer may send only frames that
# fit a page (its MTU bounded, its GSO off); TCP still flows, segmented by the peer.
test_single_buffer_bounds() {
	local out max tcp
	tcp=$(mktemp)
	xdp_pair
	ip link set xdp0 mtu 9000
	out=$(ip -n "$NS" link set xdp1 xdpdrv obj "$PROG" program xpu_xdp 2>&1) &&
		fail "a single-buffer program attached with the peer's MTU at 9000"
	echo "$out" | grep -q 'peer MTU 9000 is too large for XDP' ||
		fail "unclear refusal: $out"
	ip link set xdp0 mtu 1500
	attach xpu_xdp
	max=$(ip -j -d link show xdp0 | sed -n 's/.*"max_mtu":\([0-9]*\).*/\1/p')
	[ "$max" -lt 4096 ] || fail "the peer's max_mtu is $max with the program attached"
	out=$(ip link set xdp0 mtu "$((max + 1))" 2>&1) && fail "the peer's MTU went past $max"
	echo "$out" | grep -q 'mtu greater than device maximum' || fail "unclear refusal: $out"
	ip link set xdp0 mtu "$max" || fail "the peer's MTU cannot reach $max"
	ethtool -k xdp0 | grep -q '^tcp-segmentation-offload: off' ||
		fail "the peer kept TSO towards a single-buffer program"
	# TCP through the program: segmented by the peer, every frame native.
	ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(); s.bind(("10.77.0.2", 9100)); s.listen(1)
c, _ = s.accept(); n = 0
while (b := c.recv(65536)): n += len(b)
print(n)' >"$tcp" &
	slowwait 10 sh -c "ip netns exec $NS ss -ltn | grep -q 10.77.0.2:9100" ||
		fail "the TCP server did not start"
	python3 -c '
import socket
s = socket.create_connection(("10.77.0.2", 9100)); s.sendall(bytes(4 << 20)); s.close()' ||
		fail "TCP through the program failed"
	wait
	[ "$(cat "$tcp")" = $((4 << 20)) ] || fail "the TCP server got $(cat "$tcp")"
	[ "$(xstat rx_xdp_generic)" = 0 ] || fail "frames ran as skbs with GSO off"
	rm -f "$tcp"
	ip -n "$NS" link set xdp1 xdpdrv off || fail "detaching failed"
	ethtool -k xdp0 | grep -q '^tcp-segmentation-offload: on' ||
		fail "the peer's TSO did not come back"
	ip link set xdp0 mtu 9000 || fail "the peer's MTU bound stayed after the detach"
}

# A multi-buffer program takes any MTU: a frame too large for a page runs it as an skb (and
# XDP_TX then sends the skb), one that fits natively, up to the byte.
test_multi_buffer() {
	local got max
	xdp_pair
	# The largest frame a page holds: the peer's MTU bound under a single-buffer program,
	# with its Ethernet header.
	attach xpu_xdp
	max=$(ip -j -d link show xdp0 | sed -n 's/.*"max_mtu":\([0-9]*\).*/\1/p')
	ip -n "$NS" link set xdp1 xdpdrv off || fail "detaching failed"
	ip link set xdp0 mtu 9000
	ip -n "$NS" link set xdp1 mtu 9000
	attach xpu_xdp_frags
	got=$(echoes 9002 10 8000)
	[ "$got" = 10 ] || fail "8000-byte XDP_TX: $got of 10 replies"
	[ "$(xstat rx_xdp_generic)" = 10 ] || fail "rx xdp_generic is $(xstat rx_xdp_generic)"
	got=$(echoes 9002 10 64)
	[ "$got" = 10 ] || fail "64-byte XDP_TX: $got of 10 replies"
	[ "$(xstat rx_xdp_tx)" = 10 ] || fail "small frames did not run natively"
	# UDP over IPv4: 28 bytes of headers within the MTU.
	got=$(echoes 9002 1 $((max - 28)))
	[ "$got" = 1 ] && [ "$(xstat rx_xdp_tx)" = 11 ] ||
		fail "a frame of a full page did not run natively"
	got=$(echoes 9002 1 $((max - 27)))
	[ "$got" = 1 ] && [ "$(xstat rx_xdp_generic)" = 11 ] ||
		fail "a frame a byte over a page did not run as an skb"
	got=$(echoes 9001 10 8000)
	[ "$got" = 0 ] || fail "8000-byte XDP_DROP: $got replies"
}

# XDP_REDIRECT into xpu from another device: a native program on a veth (xpu_xdp_forward)
# redirects datagrams through a devmap into xdp1, whose ndo_xdp_xmit then sends frames that are
# the veth's (from its page pool), not its own, and gives them back. Each arrives whole at xdp0
# (a packet socket there sees them: they are addressed to the veth, not to xdp0), and nothing
# leaks (the suite's kmemleak case).
test_redirect_in() {
	local src id map ifindex cap rx n=40
	command -v bpftool >/dev/null || skip "bpftool not installed"
	[ -f "$PROG" ] || fail "$PROG was not built (clang, libbpf-dev)"
	xdp_pair
	src=$(xpu_netns xdp-src) || fail "cannot create netns"
	ip -n "$NS" link add vx0 type veth peer name vx1 netns "$src" ||
		fail "cannot add a veth pair"
	ip -n "$NS" addr add 10.78.0.1/24 dev vx0
	ip -n "$src" addr add 10.78.0.2/24 dev vx1
	ip -n "$NS" link set vx0 up
	ip -n "$src" link set vx1 up
	ip -n "$NS" link set vx0 xdpdrv obj "$PROG" program xpu_xdp_forward ||
		fail "attaching xpu_xdp_forward to the veth failed"
	id=$(ip -n "$NS" -j -d link show vx0 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
	map=$(bpftool -j prog show id "$id" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["map_ids"][0])')
	# A devmap entry names its device by index in the namespace of whoever writes it; the
	# value is the index's four bytes, least significant first.
	ifindex=$(ip netns exec "$NS" cat /sys/class/net/xdp1/ifindex)
	ip netns exec "$NS" bpftool map update id "$map" key 0 0 0 0 value $((ifindex & 255)) \
		$((ifindex >> 8 & 255)) $((ifindex >> 16 & 255)) $((ifindex >> 24)) ||
		fail "cannot fill the devmap"
	ip netns exec "$src" ping -q -c 1 -W 5 10.78.0.1 >/dev/null || fail "no ping over the veth"
	cap=$(mktemp)
	python3 - $((2 * n)) >"$cap" <<-'EOF' &
	import socket, sys
	want, got = int(sys.argv[1]), 0
	s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
	s.bind(("xdp0", 0))
	s.settimeout(20)
	print("ready", flush=True)
	try:
	    while got < want:
	        f = s.recv(4096)
	        # Ethernet, IPv4 (20 bytes), UDP to 9006; the payload the sender made for its size.
	        if len(f) < 42 or f[36:38] != (9006).to_bytes(2, "big"):
	            continue
	        size = int.from_bytes(f[38:40], "big") - 8
	        if f[42:42 + size] == bytes((j * 7 + size) % 251 for j in range(size)):
	            got += 1
	except socket.timeout:
	    pass
	print(got)
	EOF
	rx=$!
	# The receiver holds this case's output open: it must not outlive a failure.
	slowwait 10 grep -q ready "$cap" || { kill $rx; fail "the packet socket did not start"; }
	ip netns exec "$src" python3 - $n <<-'EOF'
	import socket, sys, time
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	for size in (64, 1400):
	    for i in range(int(sys.argv[1])):
	        s.sendto(bytes((j * 7 + size) % 251 for j in range(size)), ("10.78.0.1", 9006))
	        time.sleep(0.002)
	EOF
	wait $rx
	[ "$(tail -n 1 "$cap")" = $((2 * n)) ] ||
		fail "xdp0 received $(tail -n 1 "$cap") of $((2 * n)) redirected datagrams whole"
	rm -f "$cap"
	[ "$(xstat tx_xdp_xmit)" = $((2 * n)) ] ||
		fail "tx xdp_xmit is $(xstat tx_xdp_xmit), not $((2 * n))"
	[ "$(xstat tx_xdp_xmit_err)" = 0 ] || fail "a redirected frame found no room"
}

# AF_XDP, copy mode: a native program sends datagrams into an XSKMAP (XDP_REDIRECT), and the
# socket (xpu_xsk) sends each back as the reply through its TX ring (ndo_start_xmit). Zero-copy
# is refused: a received frame lives in the shared window, not in the socket's memory.
test_af_xdp() {
	local xsk=$XPU_DIR/xpu_xsk obj=$XPU_DIR/xpu_xsk.bpf.o out n=40 got echo
	[ -x "$xsk" ] && [ -f "$obj" ] || fail "xpu_xsk was not built (libbpf-dev)"
	# One queue: the socket is bound to queue 0.
	xdp_pair --queues 1
	got=$(ip netns exec "$NS" "$xsk" xdp1 0 "$obj" 1 -z 2>&1) && fail "a zero-copy bind worked"
	echo "$got" | grep -q 'zero-copy mode: Operation not supported' ||
		fail "zero-copy: unclear refusal: $got"
	out=$(mktemp)
	# Stopped below; 60 s without a packet ends it if this case fails first.
	ip netns exec "$NS" "$xsk" xdp1 0 "$obj" 60 >"$out" 2>&1 &
	echo=$!
	slowwait 10 grep -q ready "$out" ||
		{ kill $echo; fail "the AF_XDP echo did not start: $(cat "$out")"; }
	got=$(echoes 9005 $n 64)
	[ "$got" = $n ] || { kill $echo; fail "AF_XDP: $got of $n replies"; }
	got=$(echoes 9005 $n 1400)
	[ "$got" = $n ] || { kill $echo; fail "AF_XDP: $got of $n replies of 1400 bytes"; }
	kill -TERM $echo
	wait $echo
	grep -q "received $((2 * n)) echoed $((2 * n))" "$out" || fail "the echo: $(cat "$out")"
	rm -f "$out"
	[ "$(xstat rx_xdp_redirect)" = $((2 * n)) ] ||
		fail "rx xdp_redirect is $(xstat rx_xdp_redirect), not $((2 * n))"
	ip -n "$NS" -d link show xdp1 | grep -q prog/xdp && fail "the program outlived the socket"
	return 0
}

xpu_begin 6
modprobe xpu
xpu_case "native XDP: pass, drop, abort, XDP_TX, redirect through ndo_xdp_xmit, counted" \
	test_verdicts
xpu_case "XDP_REDIRECT from a veth into xpu: ndo_xdp_xmit sends another device's frames" \
	test_redirect_in
xpu_case "a single-buffer program bounds the peer's MTU and GSO" test_single_buffer_bounds
xpu_case "a multi-buffer program: frames past a page as skbs, the rest natively" test_multi_buffer
xpu_case "AF_XDP in copy mode: received through an XSKMAP, replies sent from the socket" \
	test_af_xdp
xpu_end
