#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel's own driver test, tools/testing/selftests/drivers/net/ping.py, in its real-device
# mode against xpu: NETIF=xpu0 here, the peer in a namespace (REMOTE_TYPE=netns). ping.py
# checks ping (to 65000 bytes) and TCP both ways, with checksum offload off and on, and with
# generic XDP attached; native and offloaded XDP it skips (xpu has neither).

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

# tools/lab/ksft.sh installs ping.py with its libraries next to the xpu tests.
PING_PY=$XPU_DIR/../../../pytree/tools/testing/selftests/drivers/net/ping.py

test_ping_py() {
	local ns out rc
	[ -f "$PING_PY" ] || skip "drivers/net/ping.py is not installed next to the xpu tests"
	for c in python3 socat; do
		command -v $c >/dev/null || skip "$c not installed"
	done
	ns=$(xpu_netns remote) || fail "cannot create netns"
	ip link add xpu0 type xpu || fail "add failed"
	ip link set xpu1 netns "$ns" || fail "moving the peer failed"
	ip addr add 192.0.2.1/24 dev xpu0
	ip addr add 2001:db8::1/64 dev xpu0 nodad
	ip -n "$ns" addr add 192.0.2.2/24 dev xpu1
	ip -n "$ns" addr add 2001:db8::2/64 dev xpu1 nodad
	ip link set xpu0 up
	ip -n "$ns" link set xpu1 up
	slowwait 10 ping -q -c 1 -W 1 192.0.2.2 >/dev/null || fail "no connectivity"
	out=$(NETIF=xpu0 LOCAL_V4=192.0.2.1 REMOTE_V4=192.0.2.2 \
		LOCAL_V6=2001:db8::1 REMOTE_V6=2001:db8::2 REMOTE_TYPE=netns REMOTE_ARGS="$ns" \
		python3 "$PING_PY" 2>&1)
	rc=$?
	echo "$out"
	[ $rc = 0 ] || fail "ping.py failed (exit $rc)"
	# It must have run the device tests, not skipped them all.
	echo "$out" | grep -q '^ok [0-9]* ping.test_default_v4$' || fail "ping.py did not pass test_default_v4"
	echo "$out" | grep -q '^ok [0-9]* ping.test_xdp_generic_sb$' || fail "ping.py did not pass test_xdp_generic_sb"
}

xpu_begin 2
xpu_case "drivers/net/ping.py, NETIF=xpu0, REMOTE_TYPE=netns" test_ping_py
xpu_end
