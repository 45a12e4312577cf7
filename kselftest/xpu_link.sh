#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `ip link add/del ... type xpu`: autoload, create, show, MTU limits, netns, and unload with
# links present. Pair behaviour (peer, carrier) is in xpu_pair.sh.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

test_autoload() {
	modprobe -r xpu 2>/dev/null
	ip link add xpu0 type xpu || fail "ip link add xpu0 type xpu failed"
	[ -d /sys/module/xpu ] || fail "the module was not autoloaded"
	link_exists xpu0 || fail "xpu0 missing"
}

test_show() {
	ip link add xpu0 type xpu || fail "add failed"
	ip -d link show xpu0 | grep -q 'xpu' || fail "ip -d link does not show kind xpu"
	ip -d -j link show xpu0 | grep -q '"info_kind":"xpu"' || fail "no info_kind xpu in JSON"
}

test_mtu() {
	local m
	ip link add xpu0 type xpu || fail "add failed"
	for m in 68 1500 9000 65535; do
		ip link set xpu0 mtu "$m" || fail "MTU $m refused"
		ip link show xpu0 | grep -q "mtu $m " || fail "MTU $m not applied"
	done
	for m in 67 65536; do
		ip link set xpu0 mtu "$m" 2>/dev/null && fail "MTU $m accepted"
	done
	return 0
}

test_delete() {
	ip link add xpu0 type xpu || fail "add failed"
	ip link del xpu0 || fail "ip link del xpu0 failed"
	link_exists xpu0 && fail "xpu0 still exists"
	link_exists xpu1 && fail "its peer xpu1 still exists"
	return 0
}

test_many() {
	local i
	for i in $(seq 0 15); do
		ip link add "xpum$i" type xpu || fail "add xpum$i failed"
	done
	[ "$(ip -o link show type xpu | wc -l)" = 32 ] || fail "expected 16 pairs (32 devices)"
	for i in $(seq 0 15); do
		ip link del "xpum$i" || fail "del xpum$i failed"
	done
	[ "$(ip -o link show type xpu | wc -l)" = 0 ] || fail "devices left after deleting all pairs"
}

test_netns() {
	local ns1 ns2
	ns1=$(xpu_netns a) && ns2=$(xpu_netns b) || fail "cannot create netns"
	ip link add xpu1 netns "$ns1" type xpu || fail "add in netns failed"
	link_exists xpu1 -n "$ns1" || fail "xpu1 not in $ns1"
	link_exists xpu0 -n "$ns1" || fail "the peer xpu0 is not in $ns1 with xpu1"
	ip -n "$ns1" link set xpu1 netns "$ns2" || fail "move to $ns2 failed"
	link_exists xpu1 -n "$ns2" || fail "xpu1 not in $ns2 after the move"
	link_exists xpu1 -n "$ns1" && fail "xpu1 still in $ns1"
	ip netns del "$ns2" || fail "deleting a netns holding xpu1 failed"
	# The namespace took xpu1 with it, and deleting one end deletes the pair.
	slowwait 5 sh -c "! ip -n $ns1 link show xpu0 >/dev/null 2>&1" ||
		fail "xpu0 survived the deletion of its peer's namespace"
}

test_unload_with_links() {
	local ns
	ns=$(xpu_netns c) || fail "cannot create netns"
	ip link add xpu2 type xpu || fail "add xpu2 failed"
	ip link add xpu3 netns "$ns" type xpu || fail "add xpu3 in netns failed"
	ip link set xpu2 up
	modprobe -r xpu || fail "unload with links present failed"
	link_exists xpu2 && fail "xpu2 survived the unload"
	link_exists xpu3 -n "$ns" && fail "xpu3 survived the unload"
	[ -d /sys/module/xpu ] && fail "module still loaded"
	return 0
}

xpu_begin 8
xpu_case "ip link add autoloads xpu" test_autoload
xpu_case "ip -d link shows kind xpu" test_show
xpu_case "MTU 68..65535, out of range refused" test_mtu
xpu_case "ip link del removes the link" test_delete
xpu_case "16 links created and deleted" test_many
xpu_case "create in netns, move, delete netns" test_netns
xpu_case "unload with links present removes them" test_unload_with_links
xpu_end
