# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the xpu selftests: KTAP output, namespaces, and the kernel-health checks
# that run after every test case (dmesg has no WARN/BUG/oops; kmemleak finds nothing).

XPU_DIR=$(dirname "$(readlink -f "$0")")
. "$XPU_DIR/../../../kselftest/ktap_helpers.sh"

# Test cases run in subshells, so namespaces are found by name prefix at cleanup.
XPU_NS_PREFIX=xpu-$$-
DMESG_MARK=

# Bad things the kernel can say about itself. Any of them after a test case fails it.
DMESG_BAD='WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG|UBSAN|KASAN|'\
'possible recursive locking|circular locking|inconsistent lock state|'\
'suspicious RCU usage|sleeping function called|refcount_t:|list_(add|del) corruption|'\
'unregister_netdevice: waiting|Unable to handle|rust_panic|panicked at'

xpu_require() {
	[ "$(id -u)" = 0 ] || { ktap_skip_all "must run as root"; exit "$KSFT_SKIP"; }
	for c in ip modprobe dmesg; do
		command -v "$c" >/dev/null || { ktap_skip_all "$c not installed"; exit "$KSFT_SKIP"; }
	done
	modinfo xpu >/dev/null 2>&1 || { ktap_skip_all "xpu module not installed"; exit "$KSFT_SKIP"; }
}

# dmesg_mark: writes a line no other mark has to the kernel log; dmesg_since prints what came
# after it. A line count would break once the log buffer wraps (its first lines are dropped,
# so the count points past messages that are new); a marker is found wherever it has moved.
dmesg_mark() {
	DMESG_MARK="xpu-selftest mark $$.$BASHPID.$RANDOM.$EPOCHREALTIME"
	echo "$DMESG_MARK" >/dev/kmsg
}

# dmesg_since: the kernel messages after the last mark. If the mark itself has been pushed out
# of the buffer, everything there is newer than it.
dmesg_since() {
	dmesg | awk -v m="$DMESG_MARK" '{ l[NR] = $0 } m != "" && index($0, m) { s = NR }
		END { for (i = s + 1; i <= NR; i++) print l[i] }'
}

# Prints kernel messages since the last mark that match DMESG_BAD; true if there are none.
dmesg_clean() {
	local bad
	bad=$(dmesg_since | grep -E "$DMESG_BAD")
	dmesg_mark
	[ -z "$bad" ] && return 0
	ktap_print_msg "kernel complained:"
	printf '%s\n' "$bad" | sed 's/^/#   /'
	return 1
}

# Run a test case: `xpu_case NAME FUNCTION`. It passes when FUNCTION succeeds and the kernel
# logged nothing bad meanwhile. Its time is printed too: the suites share CI's budget, and
# where that time goes is what decides how they are split across VMs.
xpu_case() {
	local name=$1 fn=$2 out rc start=$SECONDS
	# XPU_CASES=REGEX runs only the cases whose names match, the kmemleak check included (the
	# others are skipped).
	if [ -n "${XPU_CASES:-}" ] && ! printf '%s\n' "$name" | grep -qE -e "$XPU_CASES"; then
		ktap_test_skip "$name (not in XPU_CASES)"
		return
	fi
	dmesg_mark
	out=$("$fn" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	xpu_del_all
	xpu_del_netns
	ktap_print_msg "took $((SECONDS - start)) s"
	if ! dmesg_clean; then
		ktap_test_fail "$name (kernel log)"
	elif [ $rc -eq "$KSFT_SKIP" ]; then
		ktap_test_skip "$name"
	elif [ $rc -ne 0 ]; then
		ktap_test_fail "$name"
	else
		ktap_test_pass "$name"
	fi
}

# A fresh network namespace, removed at exit; prints its name.
xpu_netns() {
	local ns
	ns=$XPU_NS_PREFIX$1
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	echo "$ns"
}

# Deletes every xpu link in this namespace, so a failed case does not spill into the next.
xpu_del_all() {
	local d
	for d in $(ip -o link show type xpu 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
		ip link del "$d" 2>/dev/null
	done
}

# Deletes the namespaces the test cases made (and the processes left in them).
xpu_del_netns() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$XPU_NS_PREFIX"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
}

xpu_cleanup() {
	xpu_del_netns
	modprobe -r xpu 2>/dev/null
}

# skip MESSAGE: say why the test case cannot run here and end it as skipped.
skip() {
	echo "SKIP: $*"
	exit "$KSFT_SKIP"
}

# fail MESSAGE: say why the test case fails and end it (cases run in a subshell).
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Leak check for the whole test file: objects unreferenced since the last clear. Without
# kmemleak nothing was checked, so the case is a skip, not a pass: a kernel without it, one
# booted with kmemleak=off (tools/lab/check.sh's VMs of the kernel's tests on a pair, on the PCI
# loop and with the clock by instructions), or one whose kmemleak the caller turned off before
# the suite and says so with XPU_KMEMLEAK=off (check.sh, for the suites that end lane A's
# first VM).
# A kmemleak that turned itself off after an error of its own refuses to scan, and the case
# fails: it was there to check, and could not.
xpu_kmemleak_clean() {
	local km=/sys/kernel/debug/kmemleak
	if grep -qw kmemleak=off /proc/cmdline || [ "${XPU_KMEMLEAK:-}" = off ]; then
		echo "SKIP: kmemleak is off (kmemleak=off on the kernel's command line, or XPU_KMEMLEAK=off)"
		return "$KSFT_SKIP"
	fi
	[ -w "$km" ] || { echo "SKIP: kmemleak not available (CONFIG_DEBUG_KMEMLEAK, debugfs)"; return "$KSFT_SKIP"; }
	# Objects younger than 5 s are never reported; give the last ones time to age.
	sleep 6
	if ! { echo scan >"$km" && echo scan >"$km"; } 2>/dev/null; then
		echo "kmemleak refused to scan: it turned itself off (dmesg says why)"
		return 1
	fi
	local leaks
	leaks=$(cat "$km")
	[ -z "$leaks" ] && return 0
	printf '%s\n' "$leaks" | head -60
	return 1
}

xpu_kmemleak_clear() {
	[ "${XPU_KMEMLEAK:-}" != off ] && [ -w /sys/kernel/debug/kmemleak ] &&
		echo clear >/sys/kernel/debug/kmemleak
	return 0
}

# The kernel's ynl CLI and netdev family spec, as the kselftest install lays them out.
XPU_PYTREE=$XPU_DIR/../../../pytree
YNL_CLI=$XPU_PYTREE/tools/net/ynl/pyynl/cli.py
NETDEV_SPEC=$XPU_PYTREE/Documentation/netlink/specs/netdev.yaml

# need_ynl: skip the case unless the ynl CLI, the netdev spec and the Python modules it needs
# are here.
need_ynl() {
	[ -f "$YNL_CLI" ] && [ -f "$NETDEV_SPEC" ] || skip "ynl and the netdev spec are not installed"
	python3 -c 'import yaml, jsonschema' 2>/dev/null || skip "python3 yaml or jsonschema missing"
}

# netdev NS ARGS...: the kernel's ynl CLI on the netdev family, in NS. The kernel's own spec is
# not checked against its schema at each call (--no-schema): that check took about half of
# each call's time.
netdev() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$YNL_CLI" --spec "$NETDEV_SPEC" --no-schema "$@"
}

# ifindex NS DEV
ifindex() {
	ip -n "$1" -j link show "$2" | sed -n 's/.*"ifindex":\([0-9]*\).*/\1/p'
}

# stat NS DEV NAME: a counter of /sys/class/net/DEV/statistics
stat() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# estat NS DEV REGEX: the sum of the ethtool -S counters whose names match REGEX (per-queue
# counters summed over queues, e.g. 'rx[0-9]+_napi_polls').
estat() {
	ip netns exec "$1" ethtool -S "$2" | awk -v n="$3" '
		{ k = $1; sub(":", "", k) } k ~ "^" n "$" { s += $2 } END { print s + 0 }'
}

# slowwait SECONDS CMD...: retry CMD every 0.2 s until it succeeds or time runs out.
slowwait() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

# udp_echoes NS SRC DST PORT N SIZE: from SRC in namespace NS (or this one if empty), sends N
# UDP datagrams of SIZE bytes to DST:PORT and prints how many came back from it unchanged (each
# datagram is unique): the replies of xpu_xdp.bpf.c's XDP_TX and XDP_REDIRECT ports. One
# second of silence ends the wait.
udp_echoes() {
	local ns=$1
	shift
	${ns:+ip netns exec "$ns"} python3 - "$@" <<-'EOF'
	import socket, sys
	src, dst = sys.argv[1:3]
	port, n, size = map(int, sys.argv[3:6])
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind((src, 0))
	sent = set()
	for i in range(n):
	    msg = (i.to_bytes(4, "big") * (size // 4 + 1))[:size]
	    sent.add(msg)
	    s.sendto(msg, (dst, port))
	s.settimeout(1.0)
	got = 0
	try:
	    while got < n:
	        data, addr = s.recvfrom(65536)
	        if addr == (dst, port) and data in sent:
	            sent.discard(data)
	            got += 1
	except socket.timeout:
	    pass
	print(got)
	EOF
}

link_exists() {
	ip "${@:2}" link show dev "$1" >/dev/null 2>&1
}

# --- PCI mode (tools/lab/vm.sh --ivshmem 2: the single-VM loop)

# The ivshmem-doorbell functions, in bus order.
ivshmem_fns() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] && basename "$d"
	done
}

# in_ns NS CMD...: CMD in namespace NS, or in this one if NS is empty.
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# role_dev NS ROLE: the xpu netdev in namespace NS whose port name is ROLE (host or dpu).
role_dev() {
	local d
	for d in $(in_ns "$1" ls /sys/class/net); do
		[ "$(in_ns "$1" cat "/sys/class/net/$d/phys_port_name" 2>/dev/null)" = "$2" ] &&
			{ echo "$d"; return 0; }
	done
	return 1
}

# ring_depths NS DEV: ethtool -g's maximum and current sizes, "RX TX RX TX".
ring_depths() {
	${1:+ip netns exec "$1"} ethtool -g "$2" | awk '/^(RX|TX):/ { print $2 }' | xargs
}

# pci_sides: xpu bound to both functions, their netdevs (in this namespace) in HDEV and DDEV,
# as a case finds them whatever the one before it did. The module is loaded with XPU_MODPARAMS
# (CXL mode's window: kselftest/xpu_cxl.sh).
pci_sides() {
	local f d r
	# shellcheck disable=SC2086 # XPU_MODPARAMS: the module's parameters, words
	modprobe xpu ${XPU_MODPARAMS:-} || fail "modprobe xpu ${XPU_MODPARAMS:-} failed"
	# A case that failed half-way may have left a function unbound.
	for f in $(ivshmem_fns); do
		[ -e "/sys/bus/pci/devices/$f/driver" ] || echo "$f" >/sys/bus/pci/drivers/xpu/bind
	done
	slowwait 10 role_dev "" host >/dev/null && slowwait 10 role_dev "" dpu >/dev/null ||
		fail "xpu did not create a host-side and a DPU-side netdev"
	HDEV=$(role_dev "" host) DDEV=$(role_dev "" dpu)
	# A PCI netdev outlives a case (its namespace's deletion hands it back): so would the XDP
	# program of a case that failed half-way ...
	ip link set "$HDEV" xdpdrv off 2>/dev/null
	ip link set "$DDEV" xdpdrv off 2>/dev/null
	# ... and its ring depths (ethtool -G): back to the whole ring.
	for d in "$HDEV" "$DDEV"; do
		r=$(ring_depths "" "$d" | cut -d' ' -f1)
		ethtool -G "$d" rx "$r" tx "$r" >/dev/null 2>&1
	done
}

# xpu_begin N: the start of every test file; N counts the test cases plus the leak check
# that xpu_end adds.
xpu_begin() {
	xpu_require
	trap xpu_cleanup EXIT
	xpu_kmemleak_clear
	ktap_print_header
	ktap_set_plan "$1"
}

# xpu_end: the leak check over the whole file, then the totals and the exit status.
xpu_end() {
	xpu_case "no kmemleak reports" xpu_kmemleak_clean
	ktap_finished
}
