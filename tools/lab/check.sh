#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The README's test command: install what is missing, build the kernel and the module, run the
# userspace tests (cargo) and the kselftests (in a VM), and end with `N passed, N failed`.
set -uo pipefail
. "$(dirname "$0")/common.sh"

passed=0 failed=0 skipped=0
failures=()
why=
count() { # count RESULT NAME
	case "$1" in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$2") ;;
	esac
}
summary() {
	echo
	# What each failed kselftest case printed last, so that a run's tail says why.
	[ -s "${why:-}" ] && head -n 120 "$why"
	for f in "${failures[@]}"; do echo "FAILED: $f"; done
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" = 0 ]
	exit
}
# A step the tests cannot run without (a build, a lint): on failure, count it and stop.
gate() { # gate NAME CMD...
	local name=$1; shift
	log "$name"
	"$@" || { count fail "$name"; summary; }
}

start=$(date +%s)
# This script's steps say when they start, in seconds from here: where a run's time went.
log() { printf 'xpu: [%d s] %s\n' "$(($(date +%s) - start))" "$*" >&2; }
"$XPU_ROOT/tools/lab/deps.sh" || { count fail "install dependencies"; summary; }
cd "$XPU_ROOT" || exit 1

# --- userspace: style gates, then cargo test (each test counts)
gate "cargo fmt --check" cargo fmt --all --check
gate "cargo clippy" cargo clippy -q --workspace --all-targets -- -D warnings
gate "cargo build (xpuctl for the VM tests)" cargo build -q --workspace
log "cargo test"
out=$(cargo test --workspace 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^test |test result:|panicked|error' >&2
read -r p f < <(printf '%s\n' "$out" |
	awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }')
passed=$((passed + p)); failed=$((failed + f))
[ "$rc" = 0 ] || [ "$f" -gt 0 ] || count fail "cargo test (did not run to completion)"
printf '%s\n' "$out" | sed -n 's/^test \(.*\) \.\.\. FAILED$/cargo: \1/p' |
	while read -r l; do echo "FAILED: $l"; done

# --- kernel side
gate "kernel build" "$XPU_ROOT/tools/lab/kernel.sh"
kfmt() { # the driver is formatted with the kernel's rustfmt settings
	local k
	k=$("$XPU_ROOT/tools/lab/kernel.sh") &&
		rustfmt --check --edition 2021 --config-path "$k/source/.rustfmt.toml" driver/xpu_main.rs
}
gate "rustfmt --check (driver)" kfmt
gate "uapi/xpu.yaml: valid per the kernel's genetlink schema, generates the committed C" \
	"$XPU_ROOT/tools/lab/uapi-gen.sh" --check
gate "xpu.ko build (rustc lints, CLIPPY=1, no warnings)" "$XPU_ROOT/tools/lab/module.sh" CLIPPY=1
gate "kselftest install" "$XPU_ROOT/tools/lab/ksft.sh"
inst=$XPU_CACHE/ksft/install

log "kselftests in VMs"
# The suites run in two lanes of VMs side by side, each VM with one emulated CPU but the PCI
# loop's kernel tests' (TCG gives a guest about one host core per vCPU, and most cases are one
# program at a time): the first lane's suites, then two short VMs whose clock follows their
# instructions (-icount), the kernel's tests on a pair and then on the PCI loop; beside them
# the kernel's drivers/net tests on a pair, then PCI mode's suite on the single-VM loop (two
# ivshmem-doorbell functions on one fabric) and xpu-cni's (the functions are its two nodes'
# pools), then the kernel's tests on that loop, in a VM of two CPUs (hw/irq.py moves a
# vector's affinity from one CPU to two), then CXL mode's suite on the single-VM loop with a
# CXL memory device. The lanes are balanced by the VMs' times (each is logged; every case
# prints its own, "# took N s" in the KTAP). Pair mode's suites run in VMs without ivshmem
# functions (xpu would bind them).
# kmemleak records a stack trace at every allocation, and under TCG that makes a guest's work
# take 1.3 to 1.7 times as long (python3's start: 0.53 s against 0.34; drivers/net/ping.py: 145
# s against 109; the kernel's tests on a pair, 1169 s in a cold run of e8d9caa, 756 without
# kmemleak in a VM beside another).
# xpu's own suites keep it, but for the two that end lane A's first VM: xpu_edge.sh (Envoy,
# iperf3, Prometheus) and xpu_node.sh (iptables, nft) spend their time in programs and in the
# kernel's netfilter, and the xpu paths they take (the split namespace's steering and edge, a
# pair's datapath) are those the suites before them check; kmemleak is turned off for them
# (for the rest of that boot), and xpu_node.sh's leak check skips (xpu_edge.sh has none: its
# leaks were found by the check of the suite after it). The VMs of the kernel's tests (on a
# pair, on the PCI loop, with the clock by instructions) boot with kmemleak=off (KASAN and
# lockdep stay): the cases that run only there have no leak check of their own, and the paths
# they take through xpu are those of xpu's suites, which have one (README).
ktap=$XPU_CACHE/ksft/last-run.tap
# A cold run of e8d9caa on a slow machine took A 2232 + 791 + 558 s (the CXL VM then in lane
# A), B 1498 + 685 + 885 + 337 s, the kernel's tests on a pair 1169 s of B's first VM with
# kmemleak. Since, the kernel's tests on a pair boot without kmemleak, xpu_node.sh moved to lane
# A and the CXL VM to lane B, a new link costs half what it did (xpu_link.sh 131 s to 79),
# xpu_edge.sh and xpu_node.sh (576 s of CI's run of be3d70e, with kmemleak) run without it, and
# the PCI loop's VM whose clock follows its instructions moved to lane A.
# xpu_datapath.sh is the last of the suites kmemleak checks: its last case, should its bug come
# back, wedges the kernel, and the two after it would report nothing.
lane_a=(xpu_module.sh xpu_link.sh xpu_pair.sh xpu_xdp.sh xpu_splitns.sh xpu_ownership.sh
	xpu_datapath.sh)
lane_a_unchecked=(xpu_edge.sh xpu_node.sh)
lane_b=(xpu_drivers_net.sh)
# Every pair-mode suite the install has must be in a lane: a new suite left out would never run.
for t in $("$inst/run_kselftest.sh" -l | sed -n 's/^drivers\/net\/xpu://p'); do
	case " ${lane_a[*]} ${lane_a_unchecked[*]} ${lane_b[*]} xpu_pci.sh xpu_cni.sh xpu_cxl.sh " in
	*" $t "*) ;;
	*) count fail "kselftest $t is in no lane of tools/lab/check.sh" ;;
	esac
done
suites() { # suites NAME...: run_kselftest.sh's arguments
	local t
	for t in "$@"; do printf -- '-t\ndrivers/net/xpu:%s\n' "$t"; done
}
# ksft_vm NAME TIMEOUT [--env VAR=VALUE]... VM_OPTION... -- SUITE... [--kmemleak-off SUITE...]:
# one VM's KTAP to NAME.tap, exit status to NAME.rc; the variables are set for the suites in the
# guest, whose shell reads the command line again (vm.sh): a VALUE must be one shell word. The
# suites after --kmemleak-off run once kmemleak is turned off, told so by XPU_KMEMLEAK=off
# (their leak check skips); the VM's status is non-zero if either run fails.
ksft_vm() {
	local name=$1 timeout=$2 t0=$SECONDS opts=() env=() checked=() cmd rc
	shift 2
	while [ "$1" != -- ]; do
		case $1 in
		--env) env+=("$2"); shift 2 ;;
		*) opts+=("$1"); shift ;;
		esac
	done
	shift
	while [ $# -gt 0 ] && [ "$1" != --kmemleak-off ]; do checked+=("$1"); shift; done
	# (run_kselftest.sh without -t runs every suite installed: neither list may be empty)
	[ ${#checked[@]} -gt 0 ] && [ $# != 1 ] || die "ksft_vm $name: no suite to run"
	mapfile -t args < <(suites "${checked[@]}")
	cmd=("${env[@]}" "$inst/run_kselftest.sh" "${args[@]}")
	if [ $# -gt 0 ]; then
		shift
		mapfile -t args < <(suites "$@")
		cmd+=("; rc=\$?; echo off >/sys/kernel/debug/kmemleak;" "${env[@]}" XPU_KMEMLEAK=off
			"$inst/run_kselftest.sh" "${args[@]}" "&& exit \$rc")
	fi
	"$XPU_ROOT/tools/lab/vm.sh" --name "$name" --cpus 1 --timeout "$timeout" "${opts[@]}" -- \
		"${cmd[@]}" >"$XPU_CACHE/ksft/$name.tap" 2>&1
	rc=$?
	echo "$rc" >"$XPU_CACHE/ksft/$name.rc"
	log "$name: exit $rc after $((SECONDS - t0)) s"
}
vms=(xpu-ksft-b xpu-ksft-a xpu-ksft-icount xpu-ksft-cxl xpu-ksft-pci xpu-ksft-pci-drv
	xpu-ksft-pci-icount)
# CXL mode's memory: the file the CXL loop's memory device is (tools/lab/vm.sh --cxl), in RAM.
cxl_medium=/dev/shm/xpu-ksft-cxl.$$.mem
# Lane A ends with the kernel's tests that need the guest's clock to follow its instructions
# (gro.py's large trains, netpoll_basic.py, hw/toeplitz.py, hw/rss_ctx.py, hw/csum.py,
# hw/xdp_metadata.py, xdp.py: xpu_drivers_net.sh says why; with XPU_ICOUNT=1 it runs those
# cases only), on a pair and then on the PCI loop (XPU_DRV_PCI=1: hw/toeplitz.py, hw/csum.py).
# Lane B's last VMs run the kernel's tests on the PCI loop, then CXL mode's suite.
{
	ksft_vm xpu-ksft-a 3600 -- "${lane_a[@]}" --kmemleak-off "${lane_a_unchecked[@]}"
	ksft_vm xpu-ksft-icount 1200 --env XPU_ICOUNT=1 --qemu-opts "-icount shift=0,sleep=on" \
		--append kmemleak=off -- xpu_drivers_net.sh
	ksft_vm xpu-ksft-pci-icount 1200 --env XPU_DRV_PCI=1 --env XPU_ICOUNT=1 --cpus 2 \
		--ivshmem 2 --qemu-opts "-icount shift=0,sleep=on" --append kmemleak=off -- \
		xpu_drivers_net.sh
} &
lane_a_pid=$!
ksft_vm xpu-ksft-b 2400 --append kmemleak=off -- "${lane_b[@]}"
ksft_vm xpu-ksft-pci 1200 --ivshmem 2 -- xpu_pci.sh xpu_cni.sh
ksft_vm xpu-ksft-pci-drv 1800 --env XPU_DRV_PCI=1 --cpus 2 --ivshmem 2 --append kmemleak=off -- \
	xpu_drivers_net.sh
ksft_vm xpu-ksft-cxl 1200 --ivshmem 2 --cxl "$cxl_medium" -- xpu_cxl.sh
rm -f "$cxl_medium"
wait "$lane_a_pid"
: >"$ktap"
for name in "${vms[@]}"; do
	tap=$XPU_CACHE/ksft/$name.tap
	touch "$tap"
	tee -a "$ktap" <"$tap"
	rc=$(cat "$XPU_CACHE/ksft/$name.rc" 2>/dev/null || echo 124)
	# 124: the VM died (a panic) or timed out mid-run; 125: the guest could not be set up.
	case "$rc" in
	124 | 125) count fail "kselftest VM $name: exit $rc (see $XPU_CACHE/vm-logs)" ;;
	esac
	# Every VM's suites report, or the VM counts as failed whatever its exit status (vm.sh
	# gives up on a guest that would not boot with its own status).
	grep -qE '^(not )?ok [0-9]+ ' "$tap" || count fail "kselftest VM $name reported no suite"
	# A script that failed without reporting a failing case (crash, timeout) counts once more;
	# looked up in its own VM's KTAP, as one script runs in two VMs.
	while IFS= read -r line; do
		script=${line##*: }
		script=${script%% *}
		nested_fail=$(awk -v s="$script" '/^# selftests: / { cur = $0 }
			/^# not ok / && index(cur, s) { n++ } END { print n + 0 }' "$tap")
		[ "$nested_fail" -gt 0 ] || count fail "kselftest script ($name): $line"
	done < <(grep -E '^not ok [0-9]+ ' "$tap")
done
# Each test case is a nested KTAP line ("# ok N name").
while IFS= read -r line; do
	case "$line" in
	"# ok "*"# SKIP"*) count skip "" ;;
	"# ok "*) count pass "" ;;
	"# not ok "*) count fail "kselftest: ${line#\# not ok }" ;;
	esac
done < <(grep -E '^# (not )?ok [0-9]+ ' "$ktap")
# The last 30 lines of each failed case's output (its nested lines since the case before, or
# since its script began).
why=$XPU_CACHE/ksft/why-failed.txt
awk '/^# (not )?ok [0-9]+ / {
		if ($2 == "not") {
			print "--- why: " substr($0, 3)
			for (i = (n > 30 ? n - 30 : 0); i < n; i++) print buf[i % 30]
		}
		n = 0; next
	}
	/^# # / { buf[n % 30] = $0; n++; next }
	/^# selftests: / { n = 0 }' "$ktap" >"$why"
# The icount VM's and the PCI loop's kernel tests run because this lab can run them: every
# case in them must have run and passed, none skipped (a missing tool or CPU would skip one
# silently, a variable lost on the way would run the pair's cases instead), as many as the
# script planned. A skip there counts as a failure instead, but the leak check's: those VMs
# boot with kmemleak=off.
strict_vm() { # strict_vm NAME CASE_REGEX: each case's name matches CASE_REGEX
	local tap=$XPU_CACHE/ksft/$1.tap plan reported line
	plan=$(sed -n 's/^# 1\.\.\([0-9]*\)$/\1/p' "$tap" | head -n1)
	reported=$(grep -cE '^# (not )?ok [0-9]+ ' "$tap")
	[ -n "$plan" ] && [ "$reported" = "$plan" ] ||
		count fail "kselftest ($1): $reported of ${plan:-no} planned cases reported"
	# (A case that failed is counted above already.)
	while IFS= read -r line; do
		skipped=$((skipped - 1))
		count fail "kselftest ($1) skipped: ${line#\# ok }"
	done < <(grep -E '^# ok [0-9]+ .*# SKIP' "$tap" | grep -vxF '# ok '"$plan"' no kmemleak reports # SKIP')
	while IFS= read -r line; do
		count fail "kselftest ($1) ran a case it should not: ${line#\# ok }"
	done < <(grep -E '^# ok [0-9]+ ' "$tap" | grep -vE "^# ok [0-9]+ ($2|no kmemleak reports)")
}
strict_vm xpu-ksft-icount "drivers/net/.*, the guest's clock by instructions"
strict_vm xpu-ksft-pci-drv "PCI loop: drivers/net/.*"
strict_vm xpu-ksft-pci-icount "PCI loop: drivers/net/.*, the guest's clock by instructions"

# Peer loss by VM death needs two VMs (a QEMU killed outright): tools/lab/peer-loss.sh, with
# the window in the ivshmem BAR, then in CXL memory. (Side by side, the two took 189 s, longer
# than one after the other: the BAR's alone took 81.)
for medium in bar cxl; do
	log "peer loss on two VMs ($medium): the DPU VM killed, then a new one"
	tap=$XPU_CACHE/peer-loss.$medium.tap
	XPU_MEDIUM=$medium "$XPU_ROOT/tools/lab/peer-loss.sh" | tee "$tap"
	if grep -q '^ok 1 ' "$tap"; then
		count pass ""
	else
		count fail "peer loss on two VMs ($medium): $(grep -m1 '^not ok' "$tap")"
	fi
done

# A pod on two VMs, applied from a manifest with podman on each (tools/lab/pod-vms.sh): one
# count per case of its KTAP.
log "a pod on two VMs: podman, xpu-cni and the DPU agent"
tap=$XPU_CACHE/pod-vms.tap
"$XPU_ROOT/tools/lab/pod-vms.sh" | tee "$tap"
while IFS= read -r line; do
	case "$line" in
	"ok "*) count pass "" ;;
	"not ok "*) count fail "pod on two VMs: ${line#not ok }" ;;
	esac
done < <(grep -E '^(not )?ok [0-9]+ ' "$tap")
grep -qE '^(not )?ok [0-9]+ ' "$tap" || count fail "pod on two VMs: no report (logs in $XPU_CACHE/vm-logs)"

log "done in $(($(date +%s) - start)) s"
summary
