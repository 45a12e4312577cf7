#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build xpu.ko against the test kernel (or KDIR=...), with the same rustc as the kernel, out of
# the tree, and print its path.
#   tools/lab/module.sh [extra kbuild args, e.g. CLIPPY=1]
set -euo pipefail
. "$(dirname "$0")/common.sh"
kdir=$("$XPU_ROOT/tools/lab/kernel.sh")
# The module is built out of the tree (MO=), one directory per kernel build, so the two
# kernel flavours (tools/lab/kernel.sh) never mix objects and the checkout stays clean.
out=$(module_dir "$kdir")
mkdir -p "$out"
mo=(MO="$out")
# The toolchain the kernel was built with (the test kernel's clang), as kernel.sh recorded it.
[ -s "$kdir/xpu.make-args" ] && mapfile -t -O 1 mo <"$kdir/xpu.make-args"
ko=$out/driver/xpu.ko
# The Rust side of driver/xpu_shim.h, generated for this kernel (driver/net/sys.rs includes it).
export XPU_SHIM_BINDINGS=$out/xpu_shim_bindings.rs
"$XPU_ROOT/tools/lab/shim-bindings.sh" "$kdir" "$XPU_SHIM_BINDINGS"
# W=1 would flag the kernel's own headers; the Rust lints of the kernel build apply as they are.
if ! make -s -C "$kdir" M="$XPU_ROOT" "${mo[@]}" "$@" modules >"$XPU_CACHE/module-build.log" 2>&1; then
	cat "$XPU_CACHE/module-build.log" >&2
	die "building xpu.ko failed (log above)"
fi
# Warnings are errors for us: the kernel build prints them but does not fail on them.
if grep -qE 'warning|error' "$XPU_CACHE/module-build.log"; then
	cat "$XPU_CACHE/module-build.log" >&2
	die "building xpu.ko printed warnings (above)"
fi
[ -f "$ko" ] || die "the build left no $ko"
# A KASAN kernel checks the module's accesses only if the module carries the checks, its Rust
# as well as its C (the kselftests can only look at the whole .ko).
if grep -q '^CONFIG_KASAN=y' "$kdir/.config"; then
	for o in xpu_main.o xpu_shim.o; do
		# (grep -c, not -q: nm must not die of a closed pipe under pipefail)
		nm "$out/driver/$o" | grep -c '__asan_report_load' >/dev/null ||
			die "$o has no KASAN checks, though the kernel has KASAN"
	done
fi
echo "$ko"
