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

# The lab's test kernel has KASAN, and only modules check their accesses (tools/lab/kernel.sh):
# a use-after-free or an out-of-bounds access by xpu.ko then oopses, and DMESG_BAD fails the
# case that made it. That holds only if xpu.ko was built with KASAN's checks in it (this looks
# at the whole module; tools/lab/module.sh checks its Rust and its C objects apart).
test_kasan() {
	local ko
	grep -qw kasan_report /proc/kallsyms ||
		{ echo "SKIP: this kernel has no KASAN (CONFIG_KASAN)"; return "$KSFT_SKIP"; }
	ko=$(modinfo -n xpu) || fail "modinfo found no xpu.ko"
	grep -qa '__asan_report_load' "$ko" ||
		fail "$ko has no KASAN checks, though the kernel has KASAN: built against another kernel?"
	grep -qa '__asan_report_store' "$ko" || fail "$ko checks loads but not stores"
}

xpu_begin 5
xpu_case "module load" test_load
xpu_case "module unload" test_unload
xpu_case "module load/unload x10" test_reload_loop
xpu_case "xpu.ko checked by KASAN" test_kasan
xpu_end
