#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs first inside every lab VM (tools/lab/vm.sh): makes xpu.ko loadable by name, so that
# `modprobe xpu` and `ip link add ... type xpu` (rtnl-link-xpu alias) work as on a real
# system, then runs the requested command. The guest's /lib is a throwaway overlay.
# usage: guest-setup.sh XPU_ROOT KDIR CMDFILE
set -e
XPU_ROOT=$1 XPU_KDIR=$2 cmdfile=$3
export XPU_ROOT XPU_KDIR
echo "xpu-vm: guest up ($(uname -r))"
kver=$(uname -r)
moddir=/lib/modules/$kver
mkdir -p "$moddir/extra"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$XPU_KDIR/$f" ] && cp "$XPU_KDIR/$f" "$moddir/"
done
if [ -f "$XPU_ROOT/driver/xpu.ko" ]; then
	cp "$XPU_ROOT/driver/xpu.ko" "$moddir/extra/"
fi
depmod -a "$kver"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
# The guest sees the host's root read-only; results go to the shared writable directory.
cd "$XPU_ROOT"
set +e
sh "$cmdfile"
rc=$?
echo "xpu-vm: command exited with $rc"
exit $rc
