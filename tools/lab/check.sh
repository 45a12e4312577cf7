#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The README's test command: install what is missing, build the kernel and the module, run the
# userspace tests (cargo) and the kselftests (in a VM), and end with `N passed, N failed`.
set -uo pipefail
. "$(dirname "$0")/common.sh"

passed=0 failed=0 skipped=0
failures=()
count() { # count RESULT NAME
	case "$1" in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$2") ;;
	esac
}
summary() {
	echo
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

log "kselftests in the VM"
# About 20 minutes on two emulated CPUs, and TCG's speed varies by a quarter from run to run:
# the limit leaves room, and with a cold kernel build the whole check still fits CI's 90.
ktap=$XPU_CACHE/ksft/last-run.tap
# Pair mode's suites in a VM without ivshmem functions (xpu would bind them); then PCI mode's
# on the single-VM loop: two ivshmem-doorbell functions on one fabric.
pair_tests=()
for t in $("$inst/run_kselftest.sh" -l | grep '^drivers/net/xpu:' | grep -v ':xpu_pci.sh$'); do
	pair_tests+=(-t "$t")
done
"$XPU_ROOT/tools/lab/vm.sh" --name xpu-ksft --timeout 2700 -- \
	"$inst/run_kselftest.sh" "${pair_tests[@]}" | tee "$ktap"
vmrc=${PIPESTATUS[0]}
"$XPU_ROOT/tools/lab/vm.sh" --name xpu-ksft-pci --timeout 1500 --ivshmem 2 -- \
	"$inst/run_kselftest.sh" -t drivers/net/xpu:xpu_pci.sh | tee -a "$ktap"
pcirc=${PIPESTATUS[0]}
case "$pcirc" in 124 | 125) vmrc=$pcirc ;; esac
# Each test case is a nested KTAP line ("# ok N name"); a script that failed without
# reporting a failing case (crash, timeout) counts once more.
while IFS= read -r line; do
	case "$line" in
	"# ok "*"# SKIP"*) count skip "" ;;
	"# ok "*) count pass "" ;;
	"# not ok "*) count fail "kselftest: ${line#\# not ok }" ;;
	esac
done < <(grep -E '^# (not )?ok [0-9]+ ' "$ktap")
while IFS= read -r line; do
	script=${line##*: }
	script=${script%% *}
	nested_fail=$(awk -v s="$script" '/^# selftests: / { cur = $0 } /^# not ok / && index(cur, s) { n++ } END { print n + 0 }' "$ktap")
	[ "$nested_fail" -gt 0 ] || count fail "kselftest script: $line"
done < <(grep -E '^not ok [0-9]+ ' "$ktap")
grep -qE '^(not )?ok [0-9]+ ' "$ktap" || count fail "kselftests did not run (VM exit $vmrc)"
# 124: the VM died (a panic) or timed out mid-run; 125: the guest could not be set up.
case "$vmrc" in 124 | 125) count fail "kselftest VM: exit $vmrc (see ~/.cache/xpu/vm-logs)" ;; esac

# Peer loss by VM death needs two VMs (a QEMU killed outright): tools/lab/peer-loss.sh.
log "peer loss on two VMs: the DPU VM killed, then a new one"
"$XPU_ROOT/tools/lab/peer-loss.sh" | tee "$XPU_CACHE/peer-loss.tap"
if grep -q '^ok 1 ' "$XPU_CACHE/peer-loss.tap"; then
	count pass ""
else
	count fail "peer loss on two VMs: $(grep -m1 '^not ok' "$XPU_CACHE/peer-loss.tap")"
fi

log "done in $(($(date +%s) - start)) s"
summary
