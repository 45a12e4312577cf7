#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# xpu.ko loads and unloads cleanly, repeatedly.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

test_load() {
	modprobe -r xpu 2>/dev/null
	[ -d /sys/module/xpu ] && fail "xpu still loaded before the test"
	modprobe xpu || fail "modprobe xpu failed"
	[ -d /sys/module/xpu ] || fail "/sys/module/xpu missing after modprobe"
	grep -q 'rtnl-link-xpu' /lib/modules/"$(uname -r)"/modules.alias ||
		fail "no rtnl-link-xpu alias: ip link add ... type xpu would not autoload"
}

test_unload() {
	modprobe xpu || fail "modprobe xpu failed"
	modprobe -r xpu || fail "modprobe -r xpu failed"
	[ -d /sys/module/xpu ] && fail "/sys/module/xpu still present"
	return 0
}

test_reload_loop() {
	local i
	for i in $(seq 10); do
		modprobe xpu || fail "load $i failed"
		modprobe -r xpu || fail "unload $i failed"
	done
}

xpu_begin 4
xpu_case "module load" test_load
xpu_case "module unload" test_unload
xpu_case "module load/unload x10" test_reload_loop
xpu_end
