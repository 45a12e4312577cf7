# SPDX-License-Identifier: GPL-2.0
# Shared settings for the xpu lab scripts: where things are cached and how to report.
# Sourced, not run.

XPU_ROOT=${XPU_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# Everything heavy (kernel source and builds, venv, bindgen) lives outside the checkout so that
# a fresh clone reuses it and `git clean` never throws away a 15-minute kernel build.
XPU_CACHE=${XPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xpu}
XPU_VENV=$XPU_CACHE/venv
XPU_TOOLS=$XPU_CACHE/tools
# Kernel source package. Pinned to the 7.3 series; tools/lab/kernel.sh falls back to the
# newest linux-source-7.* if the archive has dropped it, and the cache key follows.
XPU_KSRC_PKG=${XPU_KSRC_PKG:-linux-source-7.3}
# Pinned userspace build tools.
XPU_BINDGEN_VERSION=0.72.1
XPU_LIBCLANG_VERSION=18.1.1
# The LLVM toolchain of the test kernel (tools/lab/kernel.sh: every flavour but perf): clang-19,
# lld-19 and llvm-19 from Debian (the kernel wants LLVM 17 or later; bookworm's default clang is 14).
XPU_LLVM=${XPU_LLVM:--19}
XPU_VIRTME_VERSION=1.42
# QEMU's series, from bookworm-backports (tools/lab/deps.sh): the first with a volatile
# cxl-type3 device that bookworm has.
XPU_QEMU_SERIES=10.0
XPU_ENVOY_VERSION=1.40.0
# make bench-scale's plot (tools/lab/deps.sh bench-scale).
XPU_MATPLOTLIB_VERSION=3.10.9
# make bench-cost --profile's demangler of Rust symbols (tools/lab/deps.sh bench-cost).
XPU_RUSTFILT_VERSION=0.2.2
# ethtool with the JSON output the kernel's drivers/net tests read (`--json -c`, `-l`, `-k`;
# bookworm's 6.1 has none, trixie's 6.14 no `-l`): Debian testing's (forky), whose binary runs on
# bookworm (tools/lab/deps.sh; a later one is taken if testing has moved on).
XPU_ETHTOOL_VERSION=7.2

export PATH="$XPU_TOOLS/bin:$XPU_VENV/bin:$HOME/.cargo/bin:$PATH"

log() { printf '%s\n' "xpu: $*" >&2; }
die() { printf '%s\n' "xpu: error: $*" >&2; exit 1; }

# libclang from the PyPI wheel (bookworm's clang 14 is too old for the kernel's bindgen).
libclang_path() {
	local d
	d=$(ls -d "$XPU_VENV"/lib/python3*/site-packages/clang/native 2>/dev/null | head -n1)
	[ -n "$d" ] && printf '%s\n' "$d"
}

# Where tools/lab/module.sh builds xpu.ko for the kernel build directory $1.
module_dir() {
	echo "$XPU_CACHE/module/$(basename "$1")"
}

# What the instruction-counting benchmarks run QEMU with (make bench-cost, make bench-scale
# --icount): icount, the guest's clock following its instructions (1 ns each), and -cpu max
# without FSRM (fast short rep movsb). With FSRM the kernel's memcpy is one rep movsb, which a
# CPU retires as one instruction but TCG runs as a loop of blocks that the xpu_insn plugin
# counts, about 0.8 a byte copied (QEMU 10's max CPU has it; 7.2's, which the first figures
# were taken on, had not); without it memcpy is memcpy_orig, whose instructions are the
# copy's own, about 0.27 a byte. Copies to and from user memory stay rep movsb (ERMS) on every
# link alike.
XPU_INSN_QEMU="-icount shift=0,sleep=on -cpu max,fsrm=off"

# The xpu_insn QEMU plugin (tools/bench/insn/), built with gcc: prints its path.
insn_plugin() {
	local so=$XPU_CACHE/tools/xpu_insn.so
	mkdir -p "$XPU_CACHE/tools"
	gcc -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -o "$so" \
		"$XPU_ROOT/tools/bench/insn/xpu_insn.c" || die "cannot build the QEMU plugin tools/bench/insn/xpu_insn.c"
	printf '%s\n' "$so"
}
