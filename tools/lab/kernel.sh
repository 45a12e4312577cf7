#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or find in the cache) the xpu test kernel and print its build directory (a KDIR).
#
#   tools/lab/kernel.sh            build if needed, print KDIR on stdout
#   KDIR=/path tools/lab/kernel.sh use a kernel you built yourself (checked, not rebuilt)
#   XPU_KSRC=/path                 use this kernel source tree instead of Debian's linux-source
#   XPU_KERNEL_FLAVOR=perf         the same kernel without debugging options (the benchmark's)
#   XPU_KERNEL_FLAVOR=kasan        the test kernel with KASAN checking the whole kernel, not only
#                                  the modules built against it (about twice the tests' time)
#
# The build lives in $XPU_CACHE/kernel/<key>, the key hashing the source version, the config
# fragments and the rustc/bindgen/gcc versions, so a warm run is a no-op.
set -euo pipefail
. "$(dirname "$0")/common.sh"

# A kernel the user brought: it must have Rust support and the Rust metadata out-of-tree
# modules link against, or the module build fails with a wall of errors later.
check_kdir() {
	local k=$1
	[ -f "$k/.config" ] || die "KDIR=$k has no .config: it must be a configured, built kernel tree"
	grep -q '^CONFIG_RUST=y' "$k/.config" ||
		die "KDIR=$k was built without CONFIG_RUST=y; xpu is a Rust module and needs it"
	[ -f "$k/rust/libkernel.rmeta" ] ||
		die "KDIR=$k has no rust/libkernel.rmeta: build the kernel (make) before the module"
	[ -f "$k/Module.symvers" ] || die "KDIR=$k has no Module.symvers: the kernel build is unfinished"
	local want have
	want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"/\1/p' "$k/.config")
	have=$(rustc --version)
	[ "$want" = "$have" ] ||
		die "KDIR=$k was built by '$want' but rustc here is '$have'; modules must use the same rustc"
}

if [ -n "${KDIR:-}" ]; then
	check_kdir "$KDIR"
	echo "$KDIR"
	exit 0
fi

command -v rustc >/dev/null || die "rustc not found: run 'make deps'"
command -v bindgen >/dev/null || die "bindgen not found: run 'make deps'"
lc=$(libclang_path) || true
[ -n "$lc" ] || die "libclang (PyPI wheel) not found in $XPU_VENV: run 'make deps'"
export LIBCLANG_PATH=$lc

# --- kernel source
fetch_source() {
	local pkg=$XPU_KSRC_PKG ver dir
	local list=/etc/apt/sources.list.d/xpu-trixie-backports.sources
	local pin=/etc/apt/preferences.d/xpu-trixie-backports
	if [ ! -f "$list" ] || [ ! -f "$pin" ]; then
		[ "$(id -u)" = 0 ] || die "need root to add the trixie-backports source for $pkg (or set XPU_KSRC)"
		log "adding apt source trixie-backports (download only; pinned so nothing upgrades from it)"
		printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: trixie-backports' \
			'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$list"
		printf '%s\n' 'Package: *' 'Pin: release n=trixie-backports' 'Pin-Priority: 1' >"$pin"
		apt-get update -qq >/dev/null
	fi
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		apt-get update -qq >/dev/null || true
	fi
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		# 7.3 left the archive: take the newest 7.x; the cache key follows the version.
		pkg=$(apt-cache search --names-only '^linux-source-7\.[0-9]+$' | awk '{print $1}' | sort -V | tail -n1)
		[ -n "$pkg" ] || die "no linux-source-7.* package in the apt archive (set XPU_KSRC to a 7.x tree)"
		log "$XPU_KSRC_PKG is gone from the archive; using $pkg"
	fi
	ver=$(apt-cache show "$pkg" | sed -n 's/^Version: //p' | sort -V | tail -n1)
	dir=$XPU_CACHE/src/$pkg-$ver
	if [ ! -f "$dir/.xpu-unpacked" ]; then
		log "downloading and unpacking $pkg $ver"
		rm -rf "$dir" && mkdir -p "$dir"
		(cd "$dir" && apt-get download -qq "$pkg=$ver" 2>/dev/null)
		dpkg-deb --fsys-tarfile "$dir"/*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
			tar -xJ -C "$dir"
		rm -f "$dir"/*.deb
		touch "$dir/.xpu-unpacked"
	fi
	ls -d "$dir"/linux-source-* | head -n1
}

if [ -n "${XPU_KSRC:-}" ]; then
	src=$XPU_KSRC
	[ -f "$src/Makefile" ] || die "XPU_KSRC=$src is not a kernel source tree"
else
	src=$(fetch_source)
fi
kver=$(make -s -C "$src" kernelversion)

# --- configuration and cache key
frags=("$XPU_ROOT/tools/lab/kernel.config" "$XPU_ROOT/kselftest/config")
# The test kernel (debug) has KASAN (generic, inline; tools/lab/kernel-kasan.config), which a
# Rust kernel allows only when clang builds it: the LLVM toolchain of $XPU_LLVM (clang-19 and its
# lld), for kernel and module. Its allocator poisons what is freed and keeps it in quarantine in
# the whole kernel, but only the modules built against it (xpu.ko, C and Rust) check their
# accesses: the kernel's own objects are built with KASAN_SANITIZE=n. So a use-after-free or an
# out-of-bounds access by xpu.ko oopses with a report, which fails the case that made it, while
# the rest of the kernel runs at its usual speed under TCG (checking it all doubles the tests'
# time, measured in the README).
# XPU_KERNEL_FLAVOR=kasan: the same, the whole kernel checked.
# XPU_KERNEL_FLAVOR=perf: without the debugging options and KASAN, built by gcc: the benchmark's.
toolchain=()
sanitize=()
case ${XPU_KERNEL_FLAVOR:-debug} in
debug) sanitize=(KASAN_SANITIZE=n) ;;
kasan) ;;
perf) frags+=("$XPU_ROOT/tools/lab/kernel-perf.config") ;;
*) die "XPU_KERNEL_FLAVOR=$XPU_KERNEL_FLAVOR: the flavours are 'debug' (default), 'perf' and 'kasan'" ;;
esac
if [ "${XPU_KERNEL_FLAVOR:-debug}" != perf ]; then
	frags+=("$XPU_ROOT/tools/lab/kernel-kasan.config")
	toolchain=(LLVM="$XPU_LLVM")
	command -v "clang$XPU_LLVM" >/dev/null && command -v "ld.lld$XPU_LLVM" >/dev/null ||
		die "clang$XPU_LLVM or ld.lld$XPU_LLVM not found: run 'make deps'"
fi
key=$({
	echo "$src $kver"
	cat "${frags[@]}"
	echo "${sanitize[@]}"
	rustc -vV
	bindgen --version
	if [ ${#toolchain[@]} -gt 0 ]; then "clang$XPU_LLVM" --version | head -n1; else gcc --version | head -n1; fi
} | sha256sum | cut -c1-16)
out=$XPU_CACHE/kernel/$kver-$key
if [ -f "$out/.xpu-built" ]; then
	echo "$out"
	exit 0
fi

log "building kernel $kver into $out (cold build: about 15 min on 2 cores)"
mkdir -p "$out"
kmake() { make -C "$src" O="$out" -j"$(nproc)" "${toolchain[@]}" "$@"; }
# What every later make against this build must pass too (the module's, tools/lab/module.sh).
: >"$out/xpu.make-args"
[ ${#toolchain[@]} -eq 0 ] || printf '%s\n' "${toolchain[@]}" >"$out/xpu.make-args"

# Say plainly what is missing for Rust before anything long starts.
if ! kmake -s rustavailable >"$out/rustavailable.log" 2>&1; then
	cat "$out/rustavailable.log" >&2
	die "the Rust toolchain is not usable for this kernel (see above); run 'make deps'"
fi

# One line per option; where both fragments name one, the later (kselftest/config) wins.
cat "${frags[@]}" | awk '
	{ sym = "" }
	/^CONFIG_[A-Za-z0-9_]+=/ { sym = $0; sub(/=.*/, "", sym) }
	/^# CONFIG_[A-Za-z0-9_]+ is not set/ { sym = $2 }
	sym == "" { next }
	{ line[sym] = $0; if (!(sym in seen)) { seen[sym] = 1; order[n++] = sym } }
	END { for (i = 0; i < n; i++) print line[order[i]] }' >"$out/xpu.fragment"
kmake -s KCONFIG_ALLCONFIG="$out/xpu.fragment" allnoconfig >/dev/null
# Every option we asked for must have survived dependency resolution.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qxF "$line" "$out/.config" || { log "config: $line did not stick"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=[ym]" "$out/.config" && { log "config: $opt is set but should not be"; bad=1; } ;;
	esac
done <"$out/xpu.fragment"
[ $bad = 0 ] || die "kernel config fragment not satisfiable (see above): fix tools/lab/kernel.config"

start=$(date +%s)
if ! kmake -s "${sanitize[@]}" >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	die "kernel build failed; full log: $out/build.log"
fi
log "kernel built in $(($(date +%s) - start)) s"
touch "$out/.xpu-built"
echo "$out"
