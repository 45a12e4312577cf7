#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the xpu kselftests the way an in-tree target would be: kselftest/ is laid over a copy
# of the kernel's selftest framework as tools/testing/selftests/drivers/net/xpu, then
# `make install` produces a run_kselftest.sh tree. Prints the install directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$("$XPU_ROOT/tools/lab/kernel.sh")
src=$(readlink -f "$kdir/source")
tree=$XPU_CACHE/ksft/tree
inst=$XPU_CACHE/ksft/install
rm -rf "$tree" "$inst"
mkdir -p "$tree/tools/testing/selftests/drivers/net" "$tree/scripts" "$inst"
st=$src/tools/testing/selftests
cp -r "$st/Makefile" "$st/lib.mk" "$st/kselftest" "$st/kselftest.h" "$st/run_kselftest.sh" \
	"$tree/tools/testing/selftests/"
cp "$src/scripts/subarch.include" "$tree/scripts/"
cp -r "$XPU_ROOT/kselftest" "$tree/tools/testing/selftests/drivers/net/xpu"
if ! make -s -C "$tree/tools/testing/selftests" TARGETS=drivers/net/xpu \
	INSTALL_PATH="$inst" install >"$XPU_CACHE/ksft/install.log" 2>&1; then
	cat "$XPU_CACHE/ksft/install.log" >&2
	die "installing the kselftests failed"
fi

# The kernel's own driver tests run against xpu too (xpu_drivers_net.sh): drivers/net's
# ping.py, gro.py, stats.py, napi_id.py, queues.py, xdp.py, ring_reconfig.py, napi_threaded.py,
# so_txtime.py, netpoll_basic.py, hds.py, shaper.py, macsec.py, psp.py, and hw/'s csum.py,
# tso.py, uso.py, irq.py, the RSS tests (rss_*.py, toeplitz.py), xdp_metadata.py, nk_netns.py,
# nk_qlease.py, pp_alloc_fail.py and those of features xpu has not (xpu_drivers_net.sh's
# HW_ABSENT, devlink_port_split.py).
# They need their part of the source tree around them, as in the tree: the Python libraries,
# YNL and its specs, the XDP objects ping.py and xdp.py load (built here with clang) and the C
# programs they drive (built here with gcc against the host's headers; the tree's Makefiles
# would use the kernel's).
py=$inst/pytree
pst=$py/tools/testing/selftests
mkdir -p "$pst/drivers/net/hw" "$pst/net/lib" "$py/tools/net" "$py/Documentation/netlink"
cp "$st/drivers/net/ping.py" "$st/drivers/net/gro.py" "$st/drivers/net/stats.py" \
	"$st/drivers/net/napi_id.py" "$st/drivers/net/queues.py" "$st/drivers/net/xdp.py" \
	"$st/drivers/net/ring_reconfig.py" "$st/drivers/net/napi_threaded.py" \
	"$st/drivers/net/so_txtime.py" "$st/drivers/net/netpoll_basic.py" "$st/drivers/net/hds.py" \
	"$st/drivers/net/shaper.py" "$st/drivers/net/macsec.py" "$st/drivers/net/psp.py" \
	"$pst/drivers/net/"
cp -r "$st/drivers/net/lib" "$pst/drivers/net/"
for t in csum tso uso irq gro_hw iou-zcrx ntuple ipsec_vxlan nic_timestamp xdp_metadata \
	xsk_reconfig devlink_rate_cross_esw devlink_rate_tc_bw rss_api rss_ctx rss_drv \
	rss_flow_label rss_input_xfrm toeplitz nk_netns devmem devmem_lib nk_devmem userns_devmem \
	nk_qlease pp_alloc_fail devlink_port_split; do
	cp "$st/drivers/net/hw/$t.py" "$pst/drivers/net/hw/"
done
cp -r "$st/drivers/net/hw/lib" "$pst/drivers/net/hw/"
cp -r "$st/net/lib/py" "$pst/net/lib/"
cp -r "$src/tools/net/ynl" "$py/tools/net/"
cp -r "$src/Documentation/netlink/specs" "$py/Documentation/netlink/"
# xpu_splitns.sh drives the xpu family with the kernel's ynl CLI: our spec sits with the
# kernel's, next to the schemas it is validated against.
cp "$src"/Documentation/netlink/*.yaml "$py/Documentation/netlink/"
cp "$XPU_ROOT/uapi/xpu.yaml" "$py/Documentation/netlink/specs/xpu.yaml"
# rt-link's spec learns the xpu link kind, or ynl refuses to decode an xpu device's getlink.
python3 "$XPU_ROOT/tools/lab/rt-link-xpu.py" "$src/Documentation/netlink/specs/rt-link.yaml" \
	"$XPU_ROOT/uapi/xpu.yaml" >"$py/Documentation/netlink/specs/rt-link.yaml" ||
	die "giving rt-link.yaml the xpu link kind failed"
# The BPF objects, with BTF (-g): xdp.py's program has maps that bpftool prints by it, and
# hw/xdp_metadata.py's calls a kfunc, which libbpf finds by the kernel's BTF; and the tc
# programs of the tests with a netkit pair (NetDrvContEnv: hw/nk_netns.py, psp.py, ...):
# nk_forward on xpu0's ingress redirects into the pair, nk_primary_rx_redirect on the pair's
# host end's ingress sends out of xpu0.
for prog in net/lib/xdp_dummy net/lib/xdp_native net/lib/xdp_metadata \
	drivers/net/hw/nk_forward drivers/net/hw/nk_primary_rx_redirect; do
	if ! clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$st/$prog.bpf.c" \
		-o "$pst/$prog.bpf.o" 2>"$XPU_CACHE/ksft/bpf.log"; then
		cat "$XPU_CACHE/ksft/bpf.log" >&2
		die "building ${prog##*/}.bpf.o failed (clang and libbpf-dev: run 'make deps')"
	fi
done
for prog in net/lib/gro net/lib/csum net/lib/xdp_helper drivers/net/napi_id_helper \
	drivers/net/so_txtime; do
	plog=$XPU_CACHE/ksft/${prog##*/}.log
	gcc -O2 -Wall -I"$st" -o "$pst/$prog" "$st/$prog.c" 2>"$plog" ||
		{ cat "$plog" >&2; die "building $prog failed"; }
done
# The programs that speak netlink through YNL's C library: hw/toeplitz.py's reads the device's
# RSS key and table (ethtool family), hw/devmem.py's ncdevmem binds memory to a queue (netdev),
# psp.py's psp_responder is the peer's end (psp). Built here from the tree's tools/net/ynl,
# against the kernel's uapi headers (headers_install), as the tree's ynl.mk builds them.
ynl=$XPU_CACHE/ksft/ynl
rm -rf "$ynl"
mkdir -p "$ynl/tools/net" "$ynl/tools/scripts" "$ynl/include" "$ynl/Documentation"
cp -r "$src/tools/net/ynl" "$ynl/tools/net/"
cp -r "$src/tools/scripts/." "$ynl/tools/scripts/"
cp -r "$src/include/uapi" "$ynl/include/"
cp -r "$src/Documentation/netlink" "$ynl/Documentation/"
# ynl_gen_c.py finds the tree's root by its MAINTAINERS file (and looks for it forever).
touch "$ynl/MAINTAINERS"
ylog=$XPU_CACHE/ksft/ynl.log
( make -s -C "$src" O="$ynl/hdr" ARCH=x86 headers_install INSTALL_HDR_PATH="$ynl/usr" &&
	make -s -C "$ynl/tools/net/ynl" GENS="ethtool netdev psp" RSTS="" libynl.a &&
	for prog in drivers/net/hw/toeplitz drivers/net/hw/ncdevmem drivers/net/psp_responder; do
		gcc -O2 -Wall -I"$st" -isystem "$ynl/usr/include" -I"$ynl/tools/net/ynl/lib" \
			-I"$ynl/tools/net/ynl/generated" -o "$pst/$prog" "$st/$prog.c" \
			"$ynl/tools/net/ynl/libynl.a" || exit 1
	done ) >"$ylog" 2>&1 ||
	{ cat "$ylog" >&2; die "cannot build YNL's programs (toeplitz, ncdevmem, psp_responder)"; }
# The tree's own bpftool, for hw/xdp_metadata.py (xpu_drivers_net.sh puts it first on its
# PATH): bookworm's 7.1 cannot load a device-bound program ("xdpmeta_dev").
blog=$XPU_CACHE/ksft/bpftool.log
rm -rf "$XPU_CACHE/ksft/bpftool"
mkdir -p "$XPU_CACHE/ksft/bpftool" "$py/bin"
# Its own BPF skeletons are built against the lab kernel's BTF, not whatever this machine runs.
# Without its optional libraries (LLVM and libbfd for disassembly, libcrypto for signing): a
# guest under TCG would load libLLVM at every bpftool command (xdp.py took 484 s instead of 307).
make -s -C "$src/tools/bpf/bpftool" OUTPUT="$XPU_CACHE/ksft/bpftool/" VMLINUX_BTF="$kdir/vmlinux" \
	SKIP_LLVM=1 SKIP_LIBBFD=1 SKIP_CRYPTO=1 -j"$(nproc)" >"$blog" 2>&1 &&
	cp "$XPU_CACHE/ksft/bpftool/bpftool" "$py/bin/" ||
	{ cat "$blog" >&2; die "building the kernel tree's bpftool failed"; }
# The Python tests' bytecode, compiled here by the interpreter the guests run: their root is
# read-only, so each of their python3 processes would compile lib/py and ynl again.
/usr/bin/python3 -m compileall -q -j0 "$inst" >&2 || die "compiling the Python tests failed"
echo "$inst"
