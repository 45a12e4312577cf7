#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Pair mode in one VM: build what is needed, boot a VM with the test kernel, load xpu,
# create a pair with its peer in another namespace (as the DPU side will be), and show packets
# crossing it.
set -euo pipefail
. "$(dirname "$0")/common.sh"
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl)
exec "$XPU_ROOT/tools/lab/vm.sh" --name xpu-demo --timeout 300 -- "$(cat <<'GUEST'
set -e
echo '$ modprobe xpu'; modprobe xpu
echo '$ ip netns add dpu'; ip netns add dpu
echo '$ xpuctl link add xpu0 --peer xpu1 --peer-netns dpu --queues 2'
xpuctl link add xpu0 --peer xpu1 --peer-netns dpu --queues 2
echo '$ ip addr add 10.0.0.1/24 dev xpu0 && ip -n dpu addr add 10.0.0.2/24 dev xpu1'
ip addr add 10.0.0.1/24 dev xpu0; ip -n dpu addr add 10.0.0.2/24 dev xpu1
echo '$ ip link set xpu0 up && ip -n dpu link set xpu1 up'; ip link set xpu0 up; ip -n dpu link set xpu1 up
echo '$ ip -d link show xpu0'; ip -d link show xpu0
echo '$ ip -n dpu -br link show xpu1'; ip -n dpu -br link show xpu1
echo '$ xpuctl link show xpu0'; xpuctl link show xpu0
echo '$ ping -c 3 10.0.0.2'; ping -c 3 -i 0.2 10.0.0.2
echo '$ ip netns exec dpu iperf3 -s -1 -D && iperf3 -c 10.0.0.2 -t 3'
ip netns exec dpu iperf3 -s -1 -D; sleep 1; iperf3 -c 10.0.0.2 -t 3 | grep -E 'sender|receiver'
echo '$ ip -s link show xpu0'; ip -s link show xpu0
echo '$ ethtool -S xpu0 | grep -E "packets|doorbells|polls"'; ethtool -S xpu0 | grep -E 'packets|doorbells|polls'
echo '$ ethtool -i xpu0'; ethtool -i xpu0 | head -n 2
echo '$ ip link del xpu0 && modprobe -r xpu'; ip link del xpu0; modprobe -r xpu
echo '$ dmesg | grep -E "xpu:|WARNING|BUG"'; dmesg | grep -E 'xpu:|WARNING|BUG' || true
GUEST
)"
