#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The README's main job: build what is needed, boot a VM with the test kernel, load xpu,
# create a link and show it.
set -euo pipefail
. "$(dirname "$0")/common.sh"
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
exec "$XPU_ROOT/tools/lab/vm.sh" --name xpu-demo --timeout 300 -- "$(cat <<'GUEST'
set -e
echo '$ modprobe xpu'; modprobe xpu
echo '$ ip link add xpu0 type xpu'; ip link add xpu0 type xpu
echo '$ ip link set xpu0 up'; ip link set xpu0 up
echo '$ ip -d link show xpu0'; ip -d link show xpu0
echo '$ ethtool -i xpu0'; ethtool -i xpu0 || true
echo '$ ip link del xpu0 && modprobe -r xpu'; ip link del xpu0; modprobe -r xpu
echo '$ dmesg | tail -n 5'; dmesg | tail -n 5
GUEST
)"
