#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs first inside every lab VM (tools/lab/vm.sh): makes xpu.ko loadable by name, so that
# `modprobe xpu` and `ip link add ... type xpu` (rtnl-link-xpu alias) work as on a real
# system, then runs the requested command.
# usage: guest-setup.sh XPU_ROOT KDIR CMDFILE KO CPUS TOOLS
XPU_ROOT=$1 XPU_KDIR=$2 cmdfile=$3 ko=$4 cpus=$5 tools=$6
export XPU_ROOT XPU_KDIR

setup_failed() {
	echo "xpu-vm: guest setup failed: $*"
	echo "xpu-vm: command exited with 125"
	exit 125
}

echo "xpu-vm: guest up ($(uname -r))"
# Each VM is a machine of its own, with a machine-id of its own (from its name, so that a rerun
# gets the same): udev derives the MAC address of a device that has a random one (xpu's,
# veth's) from it and the device's name (MACAddressPolicy=persistent). With this machine's id
# in every VM, the host and DPU VMs gave both ends of a PCI-mode link named xpu0 the same
# address. /etc is the guest's own overlay.
hostname | md5sum | cut -c1-32 >/etc/machine-id || setup_failed "cannot write /etc/machine-id"
# The lockless rings are only tested for real with CPUs running them side by side: a kernel
# that came up with fewer CPUs than QEMU was given (no ACPI, say) would test them on one.
[ "$(nproc)" = "$cpus" ] || setup_failed "the guest has $(nproc) CPU(s), QEMU was given $cpus"
kver=$(uname -r)
moddir=/lib/modules/$kver
# The host's root (and its /lib/modules) is read-only here; a tmpfs gives this kernel a
# modules tree of its own.
mount -t tmpfs xpu-modules /lib/modules || setup_failed "cannot mount a tmpfs on /lib/modules"
mkdir -p "$moddir/extra" || setup_failed "cannot create $moddir"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$XPU_KDIR/$f" ] && cp "$XPU_KDIR/$f" "$moddir/"
done
if [ -f "$ko" ]; then
	cp "$ko" "$moddir/extra/" || setup_failed "cannot install $ko"
fi
depmod -a "$kver" || setup_failed "depmod failed"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
cd "$XPU_ROOT" || setup_failed "no $XPU_ROOT in the guest"
# The project's own tools (xpuctl), as built by cargo on the host, and the lab's (envoy).
PATH=$XPU_ROOT/target/debug:$tools/bin:$PATH
# Where the tests find the lab's tools that are not on every test's PATH (ethtool-json).
XPU_TOOLS=$tools
export PATH XPU_TOOLS

sh "$cmdfile"
rc=$?
echo "xpu-vm: command exited with $rc"
exit $rc
